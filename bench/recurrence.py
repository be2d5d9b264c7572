"""
Benchmark the recurrence rule enumerator against croniter.

For each case the script times batchrun's ``RecurrenceRule`` and croniter
(if installed) side by side, from building the rule to the last event of
the case, best of several repeats. It also times building the same events
as bare aware datetimes, ``datetime(..., tzinfo=ZoneInfo(...))``, the least
that any enumerator must pay, and prints batchrun's cost per event relative
to that. Usage::

    pip install croniter
    python bench/recurrence.py [--repeat N] [--cron-repeat N]
"""

import argparse
import importlib.metadata
import platform
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

try:
    from batchrun.scheduling import RecurrenceRule
except ImportError:
    # Run from a checkout that is not installed.
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from batchrun.scheduling import RecurrenceRule

try:
    from croniter import croniter
except ImportError:
    croniter = None

ZONE = ZoneInfo("Europe/Helsinki")


@dataclass
class Case:
    """One enumeration to time: a rule, its cron twin and a time window."""

    name: str
    fields: dict[str, str]
    cron: str | None
    start: datetime
    end: datetime | None = None


CASES = [
    Case(
        "every minute of March 2019 (DST change)",
        {"years": "2019", "months": "3"},
        "* * * * *",
        datetime(2019, 3, 1, tzinfo=ZONE),
        datetime(2019, 4, 1, tzinfo=ZONE),
    ),
    Case(
        "every 5 minutes of 2019",
        {"years": "2019", "minutes": "*/5"},
        "*/5 * * * *",
        datetime(2019, 1, 1, tzinfo=ZONE),
        datetime(2020, 1, 1, tzinfo=ZONE),
    ),
    Case(
        "daily at 03:30 for 2020-2029",
        {"years": "2020-2029", "hours": "3", "minutes": "30"},
        "30 3 * * *",
        datetime(2020, 1, 1, tzinfo=ZONE),
        datetime(2030, 1, 1, tzinfo=ZONE),
    ),
    Case(
        "first event of 2199-12-31 23:59",
        {"years": "2199", "months": "12", "days_of_month": "31", "hours": "23"}
        | {"minutes": "59"},
        # croniter's years end at 2099.
        None,
        datetime.now(UTC),
    ),
    Case(
        "first event of 2099-12-31 23:59",
        {"years": "2099", "months": "12", "days_of_month": "31", "hours": "23"}
        | {"minutes": "59"},
        "59 23 31 12 * 0 2099",
        datetime.now(UTC),
    ),
]


def run_batchrun(case: Case) -> list[datetime]:
    rule = RecurrenceRule.create(ZONE, **case.fields)
    events = rule.get_next_events(case.start)
    # The rule's own fields end the window.
    return list(events) if case.end else [next(events)]


def run_croniter(case: Case) -> list[datetime]:
    # croniter starts after its start time; batchrun at it.
    schedule = croniter(
        case.cron,
        case.start - timedelta(seconds=1),
        max_years_between_matches=100,
    )
    events = iter(lambda: schedule.get_next(datetime), None)
    return _take(events, case.end)


def _take(events: Iterator[datetime], end: datetime | None) -> list[datetime]:
    if end is None:
        return [next(events)]
    taken = []
    for event in events:
        if event >= end:
            break
        taken.append(event)
    return taken


def build_datetimes(fields: list[tuple[int, ...]]) -> None:
    """Create one aware datetime per event: the baseline."""
    new_datetime = datetime
    zone = ZONE
    for year, month, day, hour, minute in fields:
        new_datetime(year, month, day, hour, minute, 0, 0, zone)


def best_times(functions: list[Callable[[], object]], repeat: int) -> list[float]:
    """
    Return each function's shortest run of ``repeat``, in seconds.

    The runs take turns, so that a busy machine slows all of them alike.
    """
    best = [float("inf")] * len(functions)
    for _ in range(repeat):
        for index, function in enumerate(functions):
            started = time.perf_counter()
            function()
            best[index] = min(best[index], time.perf_counter() - started)
    return best


def format_duration(seconds: float) -> str:
    if seconds >= 1:
        return f"{seconds:.2f} s"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.1f} ms"
    return f"{seconds * 1e6:.0f} µs"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0].strip())
    parser.add_argument(
        "--repeat", type=int, default=15, help="runs of batchrun (default 15)"
    )
    parser.add_argument(
        "--cron-repeat", type=int, default=3, help="runs of croniter (default 3)"
    )
    arguments = parser.parse_args()
    repeat = arguments.repeat
    cron_repeat = arguments.cron_repeat

    cron_version = importlib.metadata.version("croniter") if croniter else None
    print(
        f"Python {platform.python_version()}, croniter {cron_version or 'missing'}, "
        f"zone {ZONE.key}, best of {repeat} runs ({cron_repeat} of croniter)"
    )
    header = (
        f"{'case':<40} {'events':>7} {'batchrun':>9} {'croniter':>9} "
        f"{'speed-up':>8} {'per event':>9} {'datetime':>9} {'ratio':>6}"
    )
    print(header)
    print("-" * len(header))
    for case in CASES:
        events = run_batchrun(case)
        fields = [(e.year, e.month, e.day, e.hour, e.minute) for e in events]
        ours, baseline = best_times(
            [
                lambda case=case: run_batchrun(case),
                lambda fields=fields: build_datetimes(fields),
            ],
            repeat,
        )
        theirs = cron_events = None
        if croniter is not None and case.cron is not None:
            cron_events = run_croniter(case)
            [theirs] = best_times([lambda case=case: run_croniter(case)], cron_repeat)

        count = len(events)
        # Per-event figures mean little for a single event.
        dense = count > 1
        row = [
            f"{case.name:<40}",
            f"{count:>7}",
            f"{format_duration(ours):>9}",
            f"{format_duration(theirs) if theirs else 'n/a':>9}",
            f"{f'{theirs / ours:.0f}x' if theirs else 'n/a':>8}",
            f"{f'{ours / count * 1e6:.2f} µs' if dense else '':>9}",
            f"{f'{baseline / count * 1e6:.2f} µs' if dense else '':>9}",
            f"{f'{ours / baseline:.1f}x' if dense else '':>6}",
        ]
        print(" ".join(row))
        if cron_events is not None and len(cron_events) != count:
            print(f"{'':<40} croniter gave {len(cron_events)} events")


if __name__ == "__main__":
    main()
