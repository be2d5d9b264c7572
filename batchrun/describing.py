"""Describe recurrence rules in short English, e.g. for an admin list."""

from collections.abc import Sequence
from typing import TYPE_CHECKING

from batchrun.intset import IntegerSetSpecifier

if TYPE_CHECKING:
    from batchrun.scheduling import RecurrenceRule

WEEKDAY_NAMES = (
    "Sunday",
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
)
MONTH_NAMES = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)

# Up to this many times of day are listed one by one.
_LISTED_TIMES = 4


def describe_rule(rule: "RecurrenceRule") -> str:
    """Return e.g. ``at 02:00 and 02:30, on weekdays, Europe/Helsinki``."""
    words = [_describe_times(rule.hours, rule.minutes)]
    if not rule.weekdays.is_full:
        words.append(f"on {_describe_weekdays(rule.weekdays)}")
    if not rule.days_of_month.is_full:
        days = rule.days_of_month.simplify()
        words.append(f"on day {days}" if len(days) == 1 else f"on days {days}")
    if not rule.months.is_full:
        # Months read best from January, weekdays from Monday.
        words.append(f"in {_name_runs(list(rule.months), MONTH_NAMES, 1)}")
    if not rule.years.is_full:
        years = rule.years.simplify()
        words.append(f"in {years}" if len(years) == 1 else f"in years {years}")
    words.append(rule.timezone)
    return ", ".join(words)


def _describe_times(hours: IntegerSetSpecifier, minutes: IntegerSetSpecifier) -> str:
    minute_spec = str(minutes.simplify())
    hour_spec = str(hours.simplify())
    every_minutes = minute_spec.startswith("*/")
    if minutes.is_full:
        return "every minute" if hours.is_full else f"every minute in hours {hour_spec}"
    if every_minutes:
        step = minute_spec[2:]
        if hours.is_full:
            return f"every {step} minutes"
        return f"every {step} minutes in hours {hour_spec}"
    if len(hours) * len(minutes) <= _LISTED_TIMES:
        times = [f"{hour:02d}:{minute:02d}" for hour in hours for minute in minutes]
        return f"at {_join(times)}"
    if len(minutes) <= _LISTED_TIMES:
        at = f"hourly at {_join([f':{minute:02d}' for minute in minutes])}"
    else:
        at = f"hourly at minutes {minute_spec}"
    return at if hours.is_full else f"{at} in hours {hour_spec}"


def _describe_weekdays(weekdays: IntegerSetSpecifier) -> str:
    values = set(weekdays)
    if values == {1, 2, 3, 4, 5}:
        return "weekdays"
    if values == {0, 6}:
        return "weekends"
    # Sunday comes last: "Friday to Sunday" reads better than two runs.
    ordered = [day % 7 for day in range(1, 8) if day % 7 in values]
    return _name_runs(ordered, WEEKDAY_NAMES, 0)


def _name_runs(values: list[int], names: Sequence[str], first: int) -> str:
    """Name the values, writing three or more consecutive ones as a range."""
    runs: list[list[int]] = []
    for value in values:
        if runs and (runs[-1][-1] + 1) % len(names) == value % len(names):
            runs[-1].append(value)
        else:
            runs.append([value])
    words = []
    for run in runs:
        if len(run) >= 3:
            words.append(f"{names[run[0] - first]} to {names[run[-1] - first]}")
        else:
            words.extend(names[value - first] for value in run)
    return _join(words)


def _join(words: list[str]) -> str:
    if len(words) == 1:
        return words[0]
    return f"{', '.join(words[:-1])} and {words[-1]}"
