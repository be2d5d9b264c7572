"""
Recurrence rules: the wall-clock minutes at which a scheduled job is due.

A rule's events are the local times (seconds zero) in its timezone whose
year, month, day of month, weekday, hour and minute all match its fields.
Unlike classic cron, the day of month and the weekday must both match.

Two local times need a policy, because daylight saving time makes a
wall-clock time map to no instant or to two:

Gap (clocks jump forward)
    A local time that does not exist fires at the instant that the offset in
    force before the jump gives it, so it is shifted forward by the length
    of the gap. If that instant is already an event of the rule, it fires
    once.

Fold (clocks fall back)
    A local time that occurs twice fires on its first pass, and also on its
    second pass when the rule fires in an hour adjacent to it: the
    wall-clock hour just before or just after the repeated hour, each on its
    own calendar date (after 23:00 comes 00:00 of the next day) and matched
    against all of the rule's fields. A rule that runs hourly around the
    change fires twice; a daily one fires once.

Worked example, Europe/Helsinki in 2019. On 31 March clocks jump from 03:00
to 04:00 (+02:00 to +03:00); on 27 October they fall back from 04:00 to
03:00 (+03:00 to +02:00)::

    hours  minutes  31 March                          27 October
    3      30       04:30+03:00 (moved)               03:30+03:00
    3-4    30       04:30+03:00 (once)                03:30+03:00, 03:30+02:00,
                                                      04:30+02:00
    *      0        ..., 02:00+02:00, 04:00+03:00,    ..., 03:00+03:00,
                    05:00+03:00, ...                  03:00+02:00, 04:00+02:00

Midnight changes (America/Sao_Paulo), changes of other sizes (30 minutes on
Lord Howe Island) and whole skipped days (Pacific/Apia on 30 December 2011,
whose times all move to the same times on 31 December) follow from the
same two rules. The enumerator assumes that the offset changes at most once
per local day, which holds for every zone in tzdata since 1970.
"""

import bisect
import calendar
import enum
import functools
import heapq
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from batchrun.describing import describe_rule
from batchrun.intset import IntegerSetSpecifier

# Each field's range and its name in messages.
FIELDS = {
    "years": (1970, 2200, "years"),
    "months": (1, 12, "months"),
    "days_of_month": (1, 31, "days of month"),
    "weekdays": (0, 6, "weekdays"),
    "hours": (0, 23, "hours"),
    "minutes": (0, 59, "minutes"),
}

_ONE_HOUR = timedelta(hours=1)
_MONTH_LENGTHS = (31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)
_DAYS = tuple(timedelta(days=count) for count in range(32))

# Gap-shifted events can belong to an earlier local day than the start;
# tzdata's largest gap is one day.
_LOOKBACK = timedelta(days=2)
_BEGINNING = datetime(1969, 12, 29, tzinfo=UTC)
_END = datetime(2201, 1, 2, tzinfo=UTC)


class EventKind(enum.StrEnum):
    """How an event relates to the wall-clock time it was scheduled for."""

    REGULAR = "regular"
    """The event is at its own wall-clock time."""
    MOVED = "moved"
    """Its wall-clock time fell in a gap, so it fires later."""
    REPEATED = "repeated"
    """It is the second pass of a wall-clock time that occurs twice."""


def parse_field(name: str, spec: str | IntegerSetSpecifier) -> IntegerSetSpecifier:
    """Return the specifier for rule field ``name``, e.g. ``"hours"``."""
    min_value, max_value, label = FIELDS[name]
    if isinstance(spec, IntegerSetSpecifier):
        if (spec.min_value, spec.max_value) != (min_value, max_value):
            msg = (
                f"The {label} specifier {spec.spec!r} covers "
                f"{spec.min_value}-{spec.max_value}; it must cover "
                f"{min_value}-{max_value}."
            )
            raise ValueError(msg)
        return spec
    return IntegerSetSpecifier(spec, min_value, max_value, field=label)


def get_timezone(timezone: str | ZoneInfo) -> ZoneInfo:
    """Return the zone for an IANA name, raising ValueError if unknown."""
    if isinstance(timezone, ZoneInfo):
        return timezone
    msg = (
        f"Unknown timezone {timezone!r}: use an IANA name such as "
        f"'Europe/Helsinki' or 'UTC'."
    )
    # "localtime" names the host's zone, which schedules must not follow.
    if timezone == "localtime":
        raise ValueError(msg)
    try:
        return ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError, OSError) as error:
        raise ValueError(msg) from error


@functools.lru_cache(maxsize=4096)
def _get_unsteady_days(
    zone: ZoneInfo, year: int, month: int, length: int
) -> frozenset[int]:
    """Return the days of a month whose offset differs at start and end."""
    month_start = datetime(year, month, 1)
    offsets = [zone.utcoffset(month_start + _DAYS[day]) for day in range(length + 1)]
    return frozenset(
        day for day in range(1, length + 1) if offsets[day - 1] != offsets[day]
    )


class RecurrenceRule:
    """
    A timezone plus six integer set specifiers; see the module docstring.

    Build one with ``RecurrenceRule.create()``; rules are immutable and
    compare equal when their timezone and specifier strings are equal.
    """

    __slots__ = (
        "_day_set",
        "_day_values",
        "_hour_set",
        "_hour_values",
        "_minute_values",
        "_month_set",
        "_month_values",
        "_never",
        "_weekday_mask",
        "_year_values",
        "days_of_month",
        "hours",
        "minutes",
        "months",
        "timezone",
        "tzinfo",
        "weekdays",
        "years",
    )

    def __init__(
        self,
        timezone: str | ZoneInfo,
        years: str | IntegerSetSpecifier = "*",
        months: str | IntegerSetSpecifier = "*",
        days_of_month: str | IntegerSetSpecifier = "*",
        *,
        weekdays: str | IntegerSetSpecifier = "*",
        hours: str | IntegerSetSpecifier = "*",
        minutes: str | IntegerSetSpecifier = "*",
    ) -> None:
        self.tzinfo = get_timezone(timezone)
        # A zone read from a file has no key; its str() names the file.
        self.timezone: str = self.tzinfo.key or str(self.tzinfo)
        self.years = parse_field("years", years)
        self.months = parse_field("months", months)
        self.days_of_month = parse_field("days_of_month", days_of_month)
        self.weekdays = parse_field("weekdays", weekdays)
        self.hours = parse_field("hours", hours)
        self.minutes = parse_field("minutes", minutes)

        self._year_values = tuple(self.years)
        self._month_values = tuple(self.months)
        self._month_set = frozenset(self._month_values)
        self._day_values = tuple(self.days_of_month)
        self._day_set = frozenset(self._day_values)
        self._hour_values = tuple(self.hours)
        self._hour_set = frozenset(self._hour_values)
        self._minute_values = tuple(self.minutes)
        self._weekday_mask = None
        if not self.weekdays.is_full:
            self._weekday_mask = tuple(day in self.weekdays for day in range(7))
        # Days 30 in February, 31 in April: no need to look through the years.
        has_leap_year = any(calendar.isleap(year) for year in self._year_values)
        self._never = not any(
            self.days_of_month.first
            <= _MONTH_LENGTHS[month - 1] + (month == 2 and has_leap_year)
            for month in self._month_values
        )

    @classmethod
    def create(
        cls,
        timezone: str | ZoneInfo,
        years: str | IntegerSetSpecifier = "*",
        months: str | IntegerSetSpecifier = "*",
        days_of_month: str | IntegerSetSpecifier = "*",
        *,
        weekdays: str | IntegerSetSpecifier = "*",
        hours: str | IntegerSetSpecifier = "*",
        minutes: str | IntegerSetSpecifier = "*",
    ) -> "RecurrenceRule":
        """
        Return a rule, raising ValueError for a bad field or timezone.

        ``timezone`` is an IANA name or a ZoneInfo; each field is a
        specifier string such as ``"*/15"``. Weekdays count from 0 = Sunday.
        """
        return cls(
            timezone,
            years,
            months,
            days_of_month,
            weekdays=weekdays,
            hours=hours,
            minutes=minutes,
        )

    def _key(self) -> tuple[str, ...]:
        return (self.timezone, *(spec.spec for spec in self.specifiers().values()))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, RecurrenceRule):
            return NotImplemented
        return self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __repr__(self) -> str:
        fields = ", ".join(
            f"{name}={spec.spec!r}" for name, spec in self.specifiers().items()
        )
        return f"{type(self).__name__}.create({self.timezone!r}, {fields})"

    def specifiers(self) -> dict[str, IntegerSetSpecifier]:
        """Return the six fields by name, from years to minutes."""
        return {name: getattr(self, name) for name in FIELDS}

    def get_next_event(self, start: datetime) -> datetime | None:
        """Return the first event at or after ``start``, or None."""
        return next(self.get_next_events(start), None)

    def get_next_events(self, start: datetime) -> Iterator[datetime]:
        """
        Yield the events at or after the aware ``start``, in time order.

        Events are aware datetimes in the rule's zone, strictly increasing
        in real time, until the years run out. Raise ValueError at once
        for a naive ``start``.
        """
        if start.tzinfo is None or start.utcoffset() is None:
            msg = f"The start {start.isoformat()} is naive; give it a tzinfo."
            raise ValueError(msg)
        if self._never or start >= _END:
            return iter(())
        return self._generate_events(max(start, _BEGINNING))

    def classify_event(self, event: datetime) -> EventKind:
        """Tell whether an event of this rule was moved or repeated by DST."""
        if event.tzinfo is None or event.utcoffset() is None:
            msg = f"The event {event.isoformat()} is naive; give it a tzinfo."
            raise ValueError(msg)
        local = event.astimezone(self.tzinfo)
        wall = local.replace(tzinfo=None, fold=0)
        if not self._matches_wall_time(wall):
            return EventKind.MOVED
        offset = self.tzinfo.utcoffset(wall)
        if local.fold and offset != self.tzinfo.utcoffset(wall.replace(fold=1)):
            return EventKind.REPEATED
        return EventKind.REGULAR

    def describe(self) -> str:
        """Return the rule in short words, e.g. ``at 03:30, Europe/Helsinki``."""
        return describe_rule(self)

    def _matches_wall_time(self, wall: datetime) -> bool:
        return (
            wall.second == 0
            and wall.microsecond == 0
            and wall.minute in self.minutes
            and self._fires_in_hour(wall)
        )

    def _fires_in_hour(self, wall: datetime) -> bool:
        """Tell whether the rule has events in the wall-clock hour of ``wall``."""
        return (
            wall.hour in self._hour_set
            and wall.year in self.years
            and wall.month in self._month_set
            and wall.day in self._day_set
            and (wall.isoweekday() % 7) in self.weekdays
        )

    def _months(self, first: date) -> Iterator[tuple[int, int, int, int]]:
        """Yield (year, month, ordinal of its first day, length) from ``first``."""
        years = self._year_values
        for year in years[bisect.bisect_left(years, first.year) :]:
            months = self._month_values
            if year == first.year:
                months = months[bisect.bisect_left(months, first.month) :]
            for month in months:
                length = _MONTH_LENGTHS[month - 1]
                if month == 2 and calendar.isleap(year):
                    length += 1
                yield year, month, date(year, month, 1).toordinal(), length

    def _generate_events(self, start: datetime) -> Iterator[datetime]:
        zone = self.tzinfo
        utcoffset = zone.utcoffset
        hours = self._hour_values
        minutes = self._minute_values
        days = self._day_values
        weekday_mask = self._weekday_mask
        new_datetime = datetime
        start_utc = start.astimezone(UTC).replace(tzinfo=None)
        local_start = start.astimezone(zone)
        start_ordinal = local_start.toordinal()
        first_day = local_start.date() - _LOOKBACK

        # Events whose place in real time is not yet settled, by UTC.
        pending: list[tuple[datetime, datetime]] = []
        last_utc = None
        for year, month, month_ordinal, length in self._months(first_day):
            month_start = new_datetime(year, month, 1)
            unsteady_days = _get_unsteady_days(zone, year, month, length)
            month_days = days
            if month_ordinal <= first_day.toordinal():
                month_days = days[bisect.bisect_left(days, first_day.day) :]
            for day in month_days:
                if day > length:
                    break
                ordinal = month_ordinal + day - 1
                # Ordinals modulo 7 count weekdays from Sunday = 0.
                if weekday_mask is not None and not weekday_mask[ordinal % 7]:
                    continue

                if not pending and day not in unsteady_days:
                    if ordinal > start_ordinal:
                        for hour in hours:
                            for minute in minutes:
                                yield new_datetime(
                                    year, month, day, hour, minute, 0, 0, zone
                                )
                    elif ordinal == start_ordinal:
                        yield from self._events_of_start_day(local_start)
                    continue

                for utc, event in self._events_of_unsteady_day(year, month, day):
                    if utc >= start_utc:
                        heapq.heappush(pending, (utc, event))
                # No later wall-clock time maps to an instant before this.
                next_midnight = month_start + _DAYS[day]
                bound = next_midnight - max(
                    utcoffset(next_midnight), utcoffset(next_midnight.replace(fold=1))
                )
                while pending and pending[0][0] < bound:
                    utc, event = heapq.heappop(pending)
                    if utc != last_utc:
                        last_utc = utc
                        yield event

        while pending:
            utc, event = heapq.heappop(pending)
            if utc != last_utc:
                last_utc = utc
                yield event

    def _events_of_start_day(self, local_start: datetime) -> Iterator[datetime]:
        """Yield the start day's events at or after the start, on a steady day."""
        year, month, day = local_start.year, local_start.month, local_start.day
        first = (local_start.hour, local_start.minute)
        if local_start.second or local_start.microsecond:
            first = (local_start.hour, local_start.minute + 1)
        for hour in self._hour_values:
            if hour < first[0]:
                continue
            for minute in self._minute_values:
                if (hour, minute) >= first:
                    yield datetime(year, month, day, hour, minute, tzinfo=self.tzinfo)

    def _events_of_unsteady_day(
        self, year: int, month: int, day: int
    ) -> Iterator[tuple[datetime, datetime]]:
        """Yield (UTC, event) for each wall-clock time of a day with a change."""
        zone = self.tzinfo
        utcoffset = zone.utcoffset
        for hour in self._hour_values:
            repeats = None
            for minute in self._minute_values:
                wall = datetime(year, month, day, hour, minute)
                offset = utcoffset(wall)
                folded = datetime(year, month, day, hour, minute, fold=1)
                offset_after = utcoffset(folded)
                utc = wall - offset
                if offset == offset_after:
                    yield utc, datetime(year, month, day, hour, minute, tzinfo=zone)
                elif offset < offset_after:
                    # In a gap: the offset before the jump places it.
                    yield utc, utc.replace(tzinfo=UTC).astimezone(zone)
                else:
                    yield utc, datetime(year, month, day, hour, minute, tzinfo=zone)
                    if repeats is None:
                        repeats = self._fires_in_hour(
                            wall - _ONE_HOUR
                        ) or self._fires_in_hour(wall + _ONE_HOUR)
                    if repeats:
                        yield (
                            wall - offset_after,
                            datetime(
                                year, month, day, hour, minute, tzinfo=zone, fold=1
                            ),
                        )
