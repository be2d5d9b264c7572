import os
import re
import subprocess
import sys
import time
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from itertools import islice, takewhile
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from batchrun.intset import IntegerSetSpecifier, InvalidSpecifier
from batchrun.scheduling import (
    EventKind,
    RecurrenceRule,
    get_timezone,
    parse_field,
)

ROOT = Path(__file__).resolve().parent.parent
HELSINKI = ZoneInfo("Europe/Helsinki")


def next_events(rule: RecurrenceRule, start: str, count: int) -> list[str]:
    """Return the first events at or after an ISO 8601 start, as strings."""
    events = rule.get_next_events(datetime.fromisoformat(start))
    return [str(event) for event in islice(events, count)]


class TestCreate:
    def test_fields_and_timezone_are_exposed(self):
        """A rule shows its timezone name, zone and parsed fields."""
        rule = RecurrenceRule.create("Europe/Helsinki", "2025", weekdays="1-5")

        assert rule.timezone == "Europe/Helsinki"
        assert rule.tzinfo is HELSINKI
        assert rule.years == IntegerSetSpecifier("2025", 1970, 2200)
        assert rule.months == IntegerSetSpecifier("*", 1, 12)
        assert rule.days_of_month == IntegerSetSpecifier("*", 1, 31)
        assert rule.weekdays == IntegerSetSpecifier("1-5", 0, 6)
        assert rule.hours == IntegerSetSpecifier("*", 0, 23)
        assert rule.minutes == IntegerSetSpecifier("*", 0, 59)

    def test_zoneinfo_is_accepted(self):
        """A ZoneInfo works like its name."""
        rule = RecurrenceRule.create(ZoneInfo("Pacific/Apia"), hours="9")

        assert rule == RecurrenceRule.create("Pacific/Apia", hours="9")
        assert rule.timezone == "Pacific/Apia"

    def test_specifier_objects_are_accepted(self):
        """Fields may be given as specifiers over the field's range."""
        hours = IntegerSetSpecifier("9-17", 0, 23)

        rule = RecurrenceRule.create("UTC", hours=hours)

        assert rule.hours is hours

    def test_specifier_over_another_range_is_refused(self):
        """A specifier parsed for another field's range raises ValueError."""
        with pytest.raises(ValueError, match="it must cover 0-23"):
            RecurrenceRule.create("UTC", hours=IntegerSetSpecifier("9", 0, 59))

    @pytest.mark.parametrize(
        "name",
        [
            pytest.param("Mars/Olympus_Mons", id="unknown"),
            pytest.param("", id="empty"),
            pytest.param("Europe", id="directory"),
            pytest.param("../etc/passwd", id="outside"),
            pytest.param("/etc/localtime", id="absolute"),
            pytest.param("localtime", id="host-zone"),
        ],
    )
    def test_unknown_timezone_raises_naming_it(self, name):
        """An unknown timezone raises ValueError that names it."""
        expected = (
            f"Unknown timezone {name!r}: use an IANA name such as "
            "'Europe/Helsinki' or 'UTC'."
        )

        with pytest.raises(ValueError, match=f"^{re.escape(expected)}$"):
            RecurrenceRule.create(name)

    @pytest.mark.parametrize(
        ("field", "spec", "message"),
        [
            pytest.param(
                "years",
                "1969",
                "Invalid part '1969' in years specifier '1969': "
                "values must be in 1970-2200.",
                id="years",
            ),
            pytest.param(
                "days_of_month",
                "0",
                "Invalid part '0' in days of month specifier '0': "
                "values must be in 1-31.",
                id="days-of-month",
            ),
            pytest.param(
                "weekdays",
                "7",
                "Invalid part '7' in weekdays specifier '7': values must be in 0-6.",
                id="weekdays",
            ),
            pytest.param(
                "hours",
                "1-24",
                "Invalid part '1-24' in hours specifier '1-24': "
                "values must be in 0-23.",
                id="hours",
            ),
        ],
    )
    def test_bad_field_names_the_field(self, field, spec, message):
        """A malformed field raises InvalidSpecifier naming the field."""
        with pytest.raises(InvalidSpecifier, match=f"^{re.escape(message)}$"):
            RecurrenceRule.create("UTC", **{field: spec})

    def test_equality_hash_and_repr(self):
        """Rules compare by timezone and field strings; repr rebuilds one."""
        rule = RecurrenceRule.create("Europe/Helsinki", hours="3", minutes="30")

        assert rule == RecurrenceRule.create(HELSINKI, hours="3", minutes="30")
        assert rule != RecurrenceRule.create("UTC", hours="3", minutes="30")
        assert hash(rule) == hash(
            RecurrenceRule.create(HELSINKI, "*", "*", hours="3", minutes="30")
        )
        assert repr(rule) == (
            "RecurrenceRule.create('Europe/Helsinki', years='*', months='*', "
            "days_of_month='*', weekdays='*', hours='3', minutes='30')"
        )
        assert eval(repr(rule)) == rule

    def test_parse_field_and_get_timezone_helpers(self):
        """The helpers used by forms parse one field and one timezone."""
        assert parse_field("minutes", "*/15") == IntegerSetSpecifier("*/15", 0, 59)
        assert get_timezone("Europe/Helsinki") is HELSINKI


class TestGetNextEvents:
    def test_every_minute_starts_at_the_start(self):
        """A start on a whole minute is itself an event."""
        rule = RecurrenceRule.create("Europe/Helsinki")

        assert next_events(rule, "2019-06-01T10:00:00+03:00", 2) == [
            "2019-06-01 10:00:00+03:00",
            "2019-06-01 10:01:00+03:00",
        ]

    def test_start_inside_a_minute_skips_it(self):
        """Events have zero seconds, so a start after :00 moves on."""
        rule = RecurrenceRule.create("Europe/Helsinki")

        assert next_events(rule, "2019-06-01T10:00:00.000001+03:00", 1) == [
            "2019-06-01 10:01:00+03:00"
        ]

    def test_start_in_another_zone_gives_events_in_the_rule_zone(self):
        """A UTC start yields events in the rule's own timezone."""
        rule = RecurrenceRule.create("Europe/Helsinki", minutes="0")

        events = list(islice(rule.get_next_events(datetime(2019, 6, 1, tzinfo=UTC)), 2))

        assert [str(event) for event in events] == [
            "2019-06-01 03:00:00+03:00",
            "2019-06-01 04:00:00+03:00",
        ]
        assert all(event.tzinfo is HELSINKI for event in events)

    def test_all_fields_must_match(self):
        """Day of month and weekday are AND-ed, unlike cron: Friday the 13th."""
        rule = RecurrenceRule.create(
            "UTC", days_of_month="13", weekdays="5", hours="0", minutes="0"
        )

        assert next_events(rule, "2019-01-01T00:00:00+00:00", 3) == [
            "2019-09-13 00:00:00+00:00",
            "2019-12-13 00:00:00+00:00",
            "2020-03-13 00:00:00+00:00",
        ]

    def test_weekday_zero_is_sunday(self):
        """Weekdays count from 0 = Sunday to 6 = Saturday."""
        rule = RecurrenceRule.create("UTC", weekdays="0,6", hours="12", minutes="0")

        assert next_events(rule, "2019-06-03T00:00:00+00:00", 2) == [
            "2019-06-08 12:00:00+00:00",
            "2019-06-09 12:00:00+00:00",
        ]

    def test_wrapping_ranges(self):
        """Wrapping hour and day ranges continue past the field's end."""
        rule = RecurrenceRule.create(
            "UTC", months="12-1", days_of_month="31-1", hours="23-0", minutes="0"
        )

        assert next_events(rule, "2019-06-01T00:00:00+00:00", 5) == [
            "2019-12-01 00:00:00+00:00",
            "2019-12-01 23:00:00+00:00",
            "2019-12-31 00:00:00+00:00",
            "2019-12-31 23:00:00+00:00",
            "2020-01-01 00:00:00+00:00",
        ]

    def test_next_leap_day_after_2096(self):
        """2100 is no leap year, so 29 February comes next in 2104."""
        rule = RecurrenceRule.create(
            "UTC", months="2", days_of_month="29", hours="0", minutes="0"
        )

        assert next_events(rule, "2096-03-01T00:00:00+00:00", 2) == [
            "2104-02-29 00:00:00+00:00",
            "2108-02-29 00:00:00+00:00",
        ]

    @pytest.mark.parametrize(
        ("year", "expected"),
        [
            pytest.param("2019", 365, id="common-year"),
            pytest.param("2020", 366, id="leap-year"),
            pytest.param("2100", 365, id="century"),
            pytest.param("2000", 366, id="fourth-century"),
        ],
    )
    def test_daily_rule_fires_once_a_day(self, year, expected):
        """A daily rule gives 365 or 366 events a year, DST nights included."""
        rule = RecurrenceRule.create("Europe/Helsinki", year, hours="3", minutes="30")

        events = list(rule.get_next_events(datetime(1970, 1, 1, tzinfo=UTC)))

        assert len(events) == expected

    @pytest.mark.parametrize(
        ("years", "months", "days"),
        [
            pytest.param("*", "2", "30", id="30-february"),
            pytest.param("*", "4", "31", id="31-april"),
            pytest.param("*", "2,4", "31", id="31-february-and-april"),
            pytest.param("2019", "2", "29", id="29-february-2019"),
            pytest.param("2100", "2", "29", id="29-february-2100"),
        ],
    )
    def test_rule_that_never_fires_ends_at_once(self, years, months, days):
        """A date that never exists ends the events without a long search."""
        rule = RecurrenceRule.create("UTC", years, months, days)
        started = time.perf_counter()

        events = list(rule.get_next_events(datetime(1970, 1, 1, tzinfo=UTC)))

        assert events == []
        assert rule.get_next_event(datetime(1970, 1, 1, tzinfo=UTC)) is None
        assert time.perf_counter() - started < 0.25

    def test_events_end_with_the_years(self):
        """The last possible event is on the last minute of 2200."""
        rule = RecurrenceRule.create("UTC", months="12", days_of_month="31")

        events = list(rule.get_next_events(datetime(2200, 12, 31, 23, 58, tzinfo=UTC)))

        assert [str(event) for event in events] == [
            "2200-12-31 23:58:00+00:00",
            "2200-12-31 23:59:00+00:00",
        ]
        assert rule.get_next_event(datetime(2201, 1, 1, tzinfo=UTC)) is None

    def test_start_before_1970_gives_the_first_event_of_1970(self):
        """A start before the years begin gives their first minute."""
        rule = RecurrenceRule.create("Europe/Helsinki")

        assert next_events(rule, "1900-01-01T00:00:00+00:00", 1) == [
            "1970-01-01 00:00:00+02:00"
        ]

    def test_far_future_rule_answers_quickly(self):
        """The first event of a sparse rule in 2199 is found without a scan."""
        rule = RecurrenceRule.create(
            "Europe/Helsinki", "2199", "12", "31", hours="23", minutes="59"
        )
        started = time.perf_counter()

        event = rule.get_next_event(datetime(2025, 1, 1, tzinfo=UTC))

        assert str(event) == "2199-12-31 23:59:00+02:00"
        assert time.perf_counter() - started < 0.05

    def test_naive_start_raises_at_once(self):
        """A naive start raises ValueError when called, not when iterated."""
        rule = RecurrenceRule.create("UTC")

        with pytest.raises(
            ValueError, match=r"^The start 2019-01-01T00:00:00 is naive"
        ):
            rule.get_next_events(datetime(2019, 1, 1))


class TestDaylightSaving:
    @pytest.mark.parametrize(
        ("zone", "fields", "start", "expected"),
        [
            # Europe/Helsinki 2019-03-31: 03:00+02:00 jumps to 04:00+03:00.
            pytest.param(
                "Europe/Helsinki",
                {"minutes": "0"},
                "2019-03-31T01:00:00+02:00",
                [
                    "2019-03-31 01:00:00+02:00",
                    "2019-03-31 02:00:00+02:00",
                    "2019-03-31 04:00:00+03:00",
                    "2019-03-31 05:00:00+03:00",
                ],
                id="helsinki-spring-hourly",
            ),
            pytest.param(
                "Europe/Helsinki",
                {"minutes": "0,30"},
                "2019-03-31T02:00:00+02:00",
                [
                    "2019-03-31 02:00:00+02:00",
                    "2019-03-31 02:30:00+02:00",
                    "2019-03-31 04:00:00+03:00",
                    "2019-03-31 04:30:00+03:00",
                    "2019-03-31 05:00:00+03:00",
                ],
                id="helsinki-spring-half-hourly",
            ),
            pytest.param(
                "Europe/Helsinki",
                {"hours": "3", "minutes": "30"},
                "2019-03-30T00:00:00+02:00",
                [
                    "2019-03-30 03:30:00+02:00",
                    "2019-03-31 04:30:00+03:00",
                    "2019-04-01 03:30:00+03:00",
                ],
                id="helsinki-spring-daily",
            ),
            pytest.param(
                "Europe/Helsinki",
                {"hours": "3", "minutes": "0,30"},
                "2019-03-31T00:00:00+02:00",
                [
                    "2019-03-31 04:00:00+03:00",
                    "2019-03-31 04:30:00+03:00",
                    "2019-04-01 03:00:00+03:00",
                ],
                id="helsinki-spring-only-the-missing-hour",
            ),
            # Europe/Helsinki 2019-10-27: 04:00+03:00 falls back to 03:00+02:00.
            pytest.param(
                "Europe/Helsinki",
                {"minutes": "0"},
                "2019-10-27T02:00:00+03:00",
                [
                    "2019-10-27 02:00:00+03:00",
                    "2019-10-27 03:00:00+03:00",
                    "2019-10-27 03:00:00+02:00",
                    "2019-10-27 04:00:00+02:00",
                ],
                id="helsinki-autumn-hourly",
            ),
            pytest.param(
                "Europe/Helsinki",
                {"minutes": "0,30"},
                "2019-10-27T02:30:00+03:00",
                [
                    "2019-10-27 02:30:00+03:00",
                    "2019-10-27 03:00:00+03:00",
                    "2019-10-27 03:30:00+03:00",
                    "2019-10-27 03:00:00+02:00",
                    "2019-10-27 03:30:00+02:00",
                    "2019-10-27 04:00:00+02:00",
                ],
                id="helsinki-autumn-half-hourly",
            ),
            pytest.param(
                "Europe/Helsinki",
                {"hours": "3", "minutes": "30"},
                "2019-10-26T00:00:00+03:00",
                [
                    "2019-10-26 03:30:00+03:00",
                    "2019-10-27 03:30:00+03:00",
                    "2019-10-28 03:30:00+02:00",
                ],
                id="helsinki-autumn-daily-runs-once",
            ),
            pytest.param(
                "Europe/Helsinki",
                {"hours": "3-4", "minutes": "30"},
                "2019-10-27T00:00:00+03:00",
                [
                    "2019-10-27 03:30:00+03:00",
                    "2019-10-27 03:30:00+02:00",
                    "2019-10-27 04:30:00+02:00",
                ],
                id="helsinki-autumn-next-hour-adjacent",
            ),
            pytest.param(
                "Europe/Helsinki",
                {"hours": "2-3", "minutes": "30"},
                "2019-10-27T00:00:00+03:00",
                [
                    "2019-10-27 02:30:00+03:00",
                    "2019-10-27 03:30:00+03:00",
                    "2019-10-27 03:30:00+02:00",
                    "2019-10-28 02:30:00+02:00",
                ],
                id="helsinki-autumn-previous-hour-adjacent",
            ),
            pytest.param(
                "Europe/Helsinki",
                {"hours": "1,3", "minutes": "0"},
                "2019-10-27T00:00:00+03:00",
                [
                    "2019-10-27 01:00:00+03:00",
                    "2019-10-27 03:00:00+03:00",
                    "2019-10-28 01:00:00+02:00",
                ],
                id="helsinki-autumn-hours-apart-are-not-adjacent",
            ),
            pytest.param(
                "Europe/Helsinki",
                {"minutes": "0,30"},
                "2019-10-27T03:15:00+02:00",
                ["2019-10-27 03:30:00+02:00", "2019-10-27 04:00:00+02:00"],
                id="helsinki-start-in-second-pass",
            ),
            pytest.param(
                "Europe/Helsinki",
                {"minutes": "0,30"},
                "2019-10-27T03:15:00+03:00",
                [
                    "2019-10-27 03:30:00+03:00",
                    "2019-10-27 03:00:00+02:00",
                    "2019-10-27 03:30:00+02:00",
                ],
                id="helsinki-start-in-first-pass",
            ),
            pytest.param(
                "Europe/Helsinki",
                {"hours": "3", "minutes": "30"},
                "2019-03-31T04:15:00+03:00",
                ["2019-03-31 04:30:00+03:00", "2019-04-01 03:30:00+03:00"],
                id="helsinki-start-before-moved-event",
            ),
            # America/Sao_Paulo 2018-11-04: midnight-03:00 jumps to 01:00-02:00.
            pytest.param(
                "America/Sao_Paulo",
                {"minutes": "0"},
                "2018-11-03T22:00:00-03:00",
                [
                    "2018-11-03 22:00:00-03:00",
                    "2018-11-03 23:00:00-03:00",
                    "2018-11-04 01:00:00-02:00",
                    "2018-11-04 02:00:00-02:00",
                ],
                id="sao-paulo-midnight-gap-hourly",
            ),
            pytest.param(
                "America/Sao_Paulo",
                {"hours": "0", "minutes": "0,30"},
                "2018-11-03T00:00:00-03:00",
                [
                    "2018-11-03 00:00:00-03:00",
                    "2018-11-03 00:30:00-03:00",
                    "2018-11-04 01:00:00-02:00",
                    "2018-11-04 01:30:00-02:00",
                    "2018-11-05 00:00:00-02:00",
                ],
                id="sao-paulo-midnight-gap-daily",
            ),
            # America/Sao_Paulo 2019-02-17: midnight-02:00 falls back to
            # 23:00-03:00 on the 16th.
            pytest.param(
                "America/Sao_Paulo",
                {"minutes": "0"},
                "2019-02-16T22:00:00-02:00",
                [
                    "2019-02-16 22:00:00-02:00",
                    "2019-02-16 23:00:00-02:00",
                    "2019-02-16 23:00:00-03:00",
                    "2019-02-17 00:00:00-03:00",
                ],
                id="sao-paulo-midnight-fold-hourly",
            ),
            pytest.param(
                "America/Sao_Paulo",
                {"hours": "23", "minutes": "30"},
                "2019-02-16T00:00:00-02:00",
                ["2019-02-16 23:30:00-02:00", "2019-02-17 23:30:00-03:00"],
                id="sao-paulo-midnight-fold-daily",
            ),
            pytest.param(
                "America/Sao_Paulo",
                {"hours": "23,0", "minutes": "30"},
                "2019-02-16T12:00:00-02:00",
                [
                    "2019-02-16 23:30:00-02:00",
                    "2019-02-16 23:30:00-03:00",
                    "2019-02-17 00:30:00-03:00",
                ],
                id="sao-paulo-adjacent-hour-on-next-day",
            ),
            pytest.param(
                "America/Sao_Paulo",
                {"days_of_month": "16", "hours": "23,0", "minutes": "30"},
                "2019-02-16T12:00:00-02:00",
                ["2019-02-16 23:30:00-02:00", "2019-03-16 00:30:00-03:00"],
                id="sao-paulo-next-day-not-matching-is-not-adjacent",
            ),
            # Australia/Lord_Howe 2019-10-06: 02:00+10:30 jumps to 02:30+11:00.
            pytest.param(
                "Australia/Lord_Howe",
                {"hours": "2", "minutes": "15"},
                "2019-10-05T00:00:00+10:30",
                [
                    "2019-10-05 02:15:00+10:30",
                    "2019-10-06 02:45:00+11:00",
                    "2019-10-07 02:15:00+11:00",
                ],
                id="lord-howe-half-hour-gap-daily",
            ),
            pytest.param(
                "Australia/Lord_Howe",
                {"minutes": "*/15"},
                "2019-10-06T01:30:00+10:30",
                [
                    "2019-10-06 01:30:00+10:30",
                    "2019-10-06 01:45:00+10:30",
                    "2019-10-06 02:30:00+11:00",
                    "2019-10-06 02:45:00+11:00",
                    "2019-10-06 03:00:00+11:00",
                ],
                id="lord-howe-half-hour-gap-quarter-hourly",
            ),
            # Australia/Lord_Howe 2019-04-07: 02:00+11:00 falls back to
            # 01:30+10:30.
            pytest.param(
                "Australia/Lord_Howe",
                {"minutes": "*/15"},
                "2019-04-07T01:00:00+11:00",
                [
                    "2019-04-07 01:00:00+11:00",
                    "2019-04-07 01:15:00+11:00",
                    "2019-04-07 01:30:00+11:00",
                    "2019-04-07 01:45:00+11:00",
                    "2019-04-07 01:30:00+10:30",
                    "2019-04-07 01:45:00+10:30",
                    "2019-04-07 02:00:00+10:30",
                ],
                id="lord-howe-half-hour-fold-quarter-hourly",
            ),
            pytest.param(
                "Australia/Lord_Howe",
                {"hours": "1", "minutes": "45"},
                "2019-04-06T00:00:00+11:00",
                [
                    "2019-04-06 01:45:00+11:00",
                    "2019-04-07 01:45:00+11:00",
                    "2019-04-08 01:45:00+10:30",
                ],
                id="lord-howe-half-hour-fold-daily",
            ),
            # Pacific/Apia skipped 2011-12-30: 23:59:59-10:00 on the 29th
            # was followed by 00:00+14:00 on the 31st.
            pytest.param(
                "Pacific/Apia",
                {"hours": "9", "minutes": "0"},
                "2011-12-29T00:00:00-10:00",
                [
                    "2011-12-29 09:00:00-10:00",
                    "2011-12-31 09:00:00+14:00",
                    "2012-01-01 09:00:00+14:00",
                ],
                id="apia-daily",
            ),
            pytest.param(
                "Pacific/Apia",
                {"days_of_month": "30", "hours": "9", "minutes": "0"},
                "2011-12-01T00:00:00-10:00",
                ["2011-12-31 09:00:00+14:00", "2012-01-30 09:00:00+14:00"],
                id="apia-monthly-on-the-missing-day",
            ),
            pytest.param(
                "Pacific/Apia",
                {"days_of_month": "30", "hours": "9", "minutes": "0"},
                "2011-12-31T00:00:00+14:00",
                ["2011-12-31 09:00:00+14:00"],
                id="apia-start-after-the-missing-day",
            ),
            pytest.param(
                "Pacific/Apia",
                {"weekdays": "5", "hours": "9", "minutes": "0"},
                "2011-12-20T00:00:00-10:00",
                [
                    "2011-12-23 09:00:00-10:00",
                    "2011-12-31 09:00:00+14:00",
                    "2012-01-06 09:00:00+14:00",
                ],
                id="apia-missing-friday-fires-on-saturday",
            ),
            pytest.param(
                "Pacific/Apia",
                {"minutes": "0"},
                "2011-12-29T22:00:00-10:00",
                [
                    "2011-12-29 22:00:00-10:00",
                    "2011-12-29 23:00:00-10:00",
                    "2011-12-31 00:00:00+14:00",
                    "2011-12-31 01:00:00+14:00",
                ],
                id="apia-hourly",
            ),
            # Europe/Dublin: tzdata's winter time is the "DST" with a
            # negative save; 2019-03-31 01:00+00:00 jumps to 02:00+01:00 and
            # 2019-10-27 02:00+01:00 falls back to 01:00+00:00.
            pytest.param(
                "Europe/Dublin",
                {"hours": "1", "minutes": "30"},
                "2019-03-30T00:00:00+00:00",
                [
                    "2019-03-30 01:30:00+00:00",
                    "2019-03-31 02:30:00+01:00",
                    "2019-04-01 01:30:00+01:00",
                ],
                id="dublin-spring-daily",
            ),
            pytest.param(
                "Europe/Dublin",
                {"minutes": "0"},
                "2019-10-27T00:00:00+01:00",
                [
                    "2019-10-27 00:00:00+01:00",
                    "2019-10-27 01:00:00+01:00",
                    "2019-10-27 01:00:00+00:00",
                    "2019-10-27 02:00:00+00:00",
                ],
                id="dublin-autumn-hourly",
            ),
            pytest.param(
                "Europe/Dublin",
                {"hours": "1", "minutes": "30"},
                "2019-10-26T00:00:00+01:00",
                [
                    "2019-10-26 01:30:00+01:00",
                    "2019-10-27 01:30:00+01:00",
                    "2019-10-28 01:30:00+00:00",
                ],
                id="dublin-autumn-daily",
            ),
            # America/New_York 2019: 02:00 jumps to 03:00 on 10 March and
            # falls back to 01:00 on 3 November.
            pytest.param(
                "America/New_York",
                {"hours": "2", "minutes": "30"},
                "2019-03-09T00:00:00-05:00",
                [
                    "2019-03-09 02:30:00-05:00",
                    "2019-03-10 03:30:00-04:00",
                    "2019-03-11 02:30:00-04:00",
                ],
                id="new-york-spring-daily",
            ),
            pytest.param(
                "America/New_York",
                {"minutes": "0,30"},
                "2019-11-03T00:30:00-04:00",
                [
                    "2019-11-03 00:30:00-04:00",
                    "2019-11-03 01:00:00-04:00",
                    "2019-11-03 01:30:00-04:00",
                    "2019-11-03 01:00:00-05:00",
                    "2019-11-03 01:30:00-05:00",
                    "2019-11-03 02:00:00-05:00",
                ],
                id="new-york-autumn-half-hourly",
            ),
        ],
    )
    def test_events_around_a_change(self, zone, fields, start, expected):
        """Gaps move events forward and folds repeat only hourly ones."""
        rule = RecurrenceRule.create(zone, **fields)

        assert next_events(rule, start, len(expected)) == expected


class TestClassifyEvent:
    @pytest.mark.parametrize(
        ("zone", "fields", "event", "expected"),
        [
            pytest.param(
                "Europe/Helsinki",
                {"hours": "3", "minutes": "30"},
                "2019-03-31T04:30:00+03:00",
                EventKind.MOVED,
                id="moved-by-gap",
            ),
            pytest.param(
                "Europe/Helsinki",
                {"hours": "3-4", "minutes": "30"},
                "2019-03-31T04:30:00+03:00",
                EventKind.REGULAR,
                id="moved-onto-own-event",
            ),
            pytest.param(
                "Europe/Helsinki",
                {"hours": "3-4", "minutes": "30"},
                "2019-10-27T03:30:00+03:00",
                EventKind.REGULAR,
                id="first-pass",
            ),
            pytest.param(
                "Europe/Helsinki",
                {"hours": "3-4", "minutes": "30"},
                "2019-10-27T03:30:00+02:00",
                EventKind.REPEATED,
                id="second-pass",
            ),
            pytest.param(
                "Europe/Helsinki",
                {"hours": "3-4", "minutes": "30"},
                "2019-10-27T01:30:00+00:00",
                EventKind.REPEATED,
                id="second-pass-given-in-utc",
            ),
            pytest.param(
                "Australia/Lord_Howe",
                {"hours": "2", "minutes": "15"},
                "2019-10-06T02:45:00+11:00",
                EventKind.MOVED,
                id="moved-by-half-hour-gap",
            ),
            pytest.param(
                "Pacific/Apia",
                {"days_of_month": "30", "hours": "9", "minutes": "0"},
                "2011-12-31T09:00:00+14:00",
                EventKind.MOVED,
                id="moved-from-missing-day",
            ),
            pytest.param(
                "UTC",
                {},
                "2019-06-01T12:00:00+00:00",
                EventKind.REGULAR,
                id="ordinary",
            ),
        ],
    )
    def test_kind_of_event(self, zone, fields, event, expected):
        """An event is regular, moved by a gap or repeated in a fold."""
        rule = RecurrenceRule.create(zone, **fields)

        assert rule.classify_event(datetime.fromisoformat(event)) is expected

    def test_naive_event_raises(self):
        """A naive event is refused rather than read in the host's timezone."""
        rule = RecurrenceRule.create("UTC")

        with pytest.raises(
            ValueError, match=r"^The event 2019-01-01T00:00:00 is naive"
        ):
            rule.classify_event(datetime(2019, 1, 1))


class TestDescribe:
    @pytest.mark.parametrize(
        ("fields", "expected"),
        [
            pytest.param(
                {"weekdays": "1-5", "hours": "2", "minutes": "0,30"},
                "at 02:00 and 02:30, on weekdays",
                id="weekdays",
            ),
            pytest.param({"hours": "3", "minutes": "30"}, "at 03:30", id="daily"),
            pytest.param({}, "every minute", id="every-minute"),
            pytest.param({"minutes": "*/5"}, "every 5 minutes", id="every-5-minutes"),
            pytest.param({"minutes": "0"}, "hourly at :00", id="hourly"),
            pytest.param(
                {"hours": "9-17", "minutes": "0,30", "weekdays": "0,6"},
                "hourly at :00 and :30 in hours 9-17, on weekends",
                id="office-hours",
            ),
            pytest.param(
                {"hours": "8-18", "minutes": "*/15"},
                "every 15 minutes in hours 8-18",
                id="steps-in-hours",
            ),
            pytest.param(
                {"hours": "9-17"}, "every minute in hours 9-17", id="minutes-in-hours"
            ),
            pytest.param(
                {"minutes": "1,2,3,5,8,13"},
                "hourly at minutes 1-3,5,8,13",
                id="many-minutes",
            ),
            pytest.param(
                {"weekdays": "5,6,0", "hours": "0", "minutes": "0"},
                "at 00:00, on Friday to Sunday",
                id="weekday-run-over-sunday",
            ),
            pytest.param(
                {"weekdays": "1,3", "hours": "0", "minutes": "0"},
                "at 00:00, on Monday and Wednesday",
                id="weekday-list",
            ),
            pytest.param(
                {
                    "months": "3-5,9",
                    "days_of_month": "1,15",
                    "hours": "12",
                    "minutes": "0",
                },
                "at 12:00, on days 1,15, in March to May and September",
                id="months-and-days",
            ),
            pytest.param(
                {
                    "years": "2199",
                    "months": "12",
                    "days_of_month": "31",
                    "hours": "23",
                    "minutes": "59",
                },
                "at 23:59, on day 31, in December, in 2199",
                id="one-date",
            ),
            pytest.param(
                {"years": "2025,2026,2027", "hours": "6,18", "minutes": "0"},
                "at 06:00 and 18:00, in years 2025-2027",
                id="years",
            ),
        ],
    )
    def test_short_description(self, fields, expected):
        """A rule reads as a short phrase ending with its timezone."""
        rule = RecurrenceRule.create("Europe/Helsinki", **fields)

        assert rule.describe() == f"{expected}, Europe/Helsinki"


# Real changes to look around: (zone, wall-clock time of the change).
CHANGES = [
    ("Europe/Helsinki", datetime(2019, 3, 31, 3)),
    ("Europe/Helsinki", datetime(2019, 10, 27, 3)),
    ("Australia/Lord_Howe", datetime(2019, 10, 6, 2)),
    ("Australia/Lord_Howe", datetime(2019, 4, 7, 1, 30)),
    ("America/Sao_Paulo", datetime(2018, 11, 4, 0)),
    ("America/Sao_Paulo", datetime(2019, 2, 16, 23)),
    ("Europe/Dublin", datetime(2019, 3, 31, 1)),
    ("Europe/Dublin", datetime(2019, 10, 27, 1)),
    ("Pacific/Apia", datetime(2011, 12, 30, 0)),
    ("Pacific/Apia", datetime(2011, 9, 24, 3)),
    ("Pacific/Apia", datetime(2012, 4, 1, 3)),
    ("America/New_York", datetime(2019, 3, 10, 2)),
    ("America/New_York", datetime(2019, 11, 3, 1)),
    ("UTC", datetime(2019, 6, 1, 12)),
]


@st.composite
def rules_near_changes(draw):
    """Draw a zone, a window around one of its changes and a rule's fields."""
    zone_name, change = draw(st.sampled_from(CHANGES))
    start = change + timedelta(minutes=draw(st.integers(-48 * 60, 12 * 60)))
    # Values near the change, so that rules often fire around it.
    near_days = st.sampled_from(
        [(change + timedelta(days=count)).day for count in (-1, 0, 1)]
    )
    near_hours = st.sampled_from(
        [(change + timedelta(hours=count)).hour for count in (-1, 0, 1)]
    )
    fields = {
        "days_of_month": draw(_maybe(near_days | st.integers(1, 31), 3)),
        "weekdays": draw(_maybe(st.integers(0, 6), 5)),
        "hours": draw(_maybe(near_hours | st.integers(0, 23), 4)),
        "minutes": draw(
            _maybe(st.sampled_from([0, 15, 30, 45]) | st.integers(0, 59), 3)
        ),
    }
    return zone_name, start.replace(tzinfo=UTC), fields


def _maybe(values: st.SearchStrategy, max_size: int) -> st.SearchStrategy:
    """Draw None (the whole range) or a small set of values."""
    return st.none() | st.frozensets(values, min_size=1, max_size=max_size)


class TestAgainstReference:
    @settings(max_examples=100, deadline=None)
    @given(case=rules_near_changes())
    def test_fast_enumerator_matches_a_minute_by_minute_walk(self, case):
        """Events equal those found by walking every wall-clock minute."""
        zone_name, start, fields = case
        zone = ZoneInfo(zone_name)
        rule = RecurrenceRule.create(
            zone_name, **{name: _spec(values) for name, values in fields.items()}
        )
        end = start + timedelta(days=3)

        events = list(takewhile(lambda event: event < end, rule.get_next_events(start)))

        expected = _walk_wall_clock(fields, zone, start, end)
        assert [event.astimezone(UTC) for event in events] == expected
        assert all(event.tzinfo is zone for event in events)
        assert [str(event) for event in events] == [
            str(instant.astimezone(zone)) for instant in expected
        ]


def _spec(values: frozenset[int] | None) -> str:
    return "*" if values is None else ",".join(map(str, sorted(values)))


def _walk_wall_clock(fields, zone, start, end):
    """
    Apply PRODUCT.md's rules to every wall-clock minute near a window.

    Walks real time minute by minute to learn which instants show each
    wall-clock time (none in a gap, two in a fold), then fires each matching
    wall-clock time by the rules, and keeps the instants in [start, end).
    """

    def matches(value, name):
        return fields[name] is None or value in fields[name]

    def fires_in_hour(wall):
        return (
            matches(wall.day, "days_of_month")
            and matches(wall.isoweekday() % 7, "weekdays")
            and matches(wall.hour, "hours")
        )

    instants_by_wall = defaultdict(list)
    instant = start.replace(second=0, microsecond=0) - timedelta(days=2)
    while instant < end + timedelta(days=2):
        wall = instant.astimezone(zone).replace(tzinfo=None)
        instants_by_wall[wall].append(instant)
        instant += timedelta(minutes=1)

    fired = set()
    wall = (start - timedelta(hours=15)).replace(tzinfo=None, second=0, microsecond=0)
    while wall < (end + timedelta(hours=15)).replace(tzinfo=None):
        if fires_in_hour(wall) and matches(wall.minute, "minutes"):
            passes = instants_by_wall.get(wall, [])
            if not passes:
                # A gap: use the offset of the last minute before the jump.
                before = wall - timedelta(minutes=1)
                while before not in instants_by_wall:
                    before -= timedelta(minutes=1)
                offset = before - instants_by_wall[before][-1].replace(tzinfo=None)
                fired.add((wall - offset).replace(tzinfo=UTC))
            else:
                fired.add(passes[0])
                hour = wall.replace(minute=0)
                if len(passes) == 2 and (
                    fires_in_hour(hour - timedelta(hours=1))
                    or fires_in_hour(hour + timedelta(hours=1))
                ):
                    fired.add(passes[1])
        wall += timedelta(minutes=1)
    return sorted(instant for instant in fired if start <= instant < end)


def test_results_do_not_depend_on_the_host_timezone():
    """The same events come out whatever the TZ of the process."""
    script = (
        "import time\n"
        "from datetime import datetime\n"
        "from itertools import islice\n"
        "from batchrun.scheduling import RecurrenceRule\n"
        "print(time.strftime('%z', time.localtime(1325325600)))\n"
        "for zone, start in [\n"
        "    ('Europe/Helsinki', '2019-10-26T23:00:00+00:00'),\n"
        "    ('Pacific/Apia', '2011-12-29T20:00:00-10:00'),\n"
        "]:\n"
        "    rule = RecurrenceRule.create(zone, minutes='0,30')\n"
        "    events = rule.get_next_events(datetime.fromisoformat(start))\n"
        "    print(*islice(events, 12), sep='\\n')\n"
    )
    outputs = {}
    for host_zone in ["UTC", "Pacific/Apia"]:
        env = {**os.environ, "TZ": host_zone, "PYTHONPATH": str(ROOT)}
        result = subprocess.run(
            [sys.executable, "-c", script],
            capture_output=True,
            text=True,
            check=True,
            env=env,
            cwd=ROOT,
        )
        outputs[host_zone] = result.stdout.splitlines()

    assert outputs["UTC"][0] == "+0000"
    assert outputs["Pacific/Apia"][0] == "+1400"
    assert outputs["UTC"][1:] == outputs["Pacific/Apia"][1:]
    assert outputs["UTC"][1:5] == [
        "2019-10-27 02:00:00+03:00",
        "2019-10-27 02:30:00+03:00",
        "2019-10-27 03:00:00+03:00",
        "2019-10-27 03:30:00+03:00",
    ]
    assert outputs["UTC"][13:17] == [
        "2011-12-29 20:00:00-10:00",
        "2011-12-29 20:30:00-10:00",
        "2011-12-29 21:00:00-10:00",
        "2011-12-29 21:30:00-10:00",
    ]
