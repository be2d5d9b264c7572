"""
Decide which occurrences of the schedules are due, late or missed.

The scheduler keeps a :class:`ScheduleCursor` per enabled scheduled job: the
rule's event iterator and the next event it has not handled yet.  When the
scheduler starts, or rebuilds its cursors after losing the database, a
cursor starts at the latest of

* the schedule's ``active_since`` (saving or enabling a schedule never fires
  the minutes that just went by),
* just after the latest occurrence already recorded for it (by any
  scheduler), and
* :data:`LOOKBACK` before now, which bounds the work after a long downtime.

Each pass turns the events up to now into claims (:func:`plan_claims`):

* the latest event is launched if it is at most the grace period late;
* every other event is recorded as skipped.  A single one gets its own
  row; several (after downtime) get one summarising row, at the last of
  them, that names how many there were and from when to when.  So a
  minutely job whose schedulers were down for a day gets one skipped row
  and one late launch, not 1,440 rows and a burst of launches.
"""

import datetime
from collections.abc import Iterator

from .claiming import Claim
from .models import JobRun, ScheduledJob

LOOKBACK = datetime.timedelta(days=7)

# After the last recorded occurrence; events have whole minutes.
_AFTER = datetime.timedelta(seconds=1)


def get_rule_signature(schedule: ScheduledJob) -> tuple:
    """Return what decides a schedule's events; a change restarts its cursor."""
    return (
        schedule.timezone,
        schedule.years,
        schedule.months,
        schedule.days_of_month,
        schedule.weekdays,
        schedule.hours,
        schedule.minutes,
        schedule.active_since,
    )


def get_cursor_start(
    schedule: ScheduledJob,
    latest_recorded: datetime.datetime | None,
    now: datetime.datetime,
) -> datetime.datetime:
    """Return the instant from which a new cursor looks for events."""
    candidates = [schedule.active_since, now - LOOKBACK - schedule.get_grace_period()]
    if latest_recorded is not None:
        candidates.append(latest_recorded + _AFTER)
    return max(candidates)


class ScheduleCursor:
    """The next unhandled events of one scheduled job."""

    def __init__(self, schedule: ScheduledJob, start: datetime.datetime) -> None:
        """Build the rule, raising ValueError if the schedule's rule is bad."""
        self.schedule = schedule
        self.signature = get_rule_signature(schedule)
        self.rule = schedule.recurrence_rule
        self._events: Iterator[datetime.datetime] = self.rule.get_next_events(start)
        self.next_event: datetime.datetime | None = next(self._events, None)

    def take_due(self, now: datetime.datetime) -> list[datetime.datetime]:
        """Return the events at or before now and move past them."""
        due = []
        while self.next_event is not None and self.next_event <= now:
            due.append(self.next_event)
            self.next_event = next(self._events, None)
        return due


def plan_claims(
    schedule: ScheduledJob,
    due: list[datetime.datetime],
    now: datetime.datetime,
) -> list[Claim]:
    """Return the claims for a schedule's due events, oldest first."""
    if not due:
        return []
    grace = schedule.get_grace_period()
    launch = due[-1] if now - due[-1] <= grace else None
    missed = due[:-1] if launch is not None else due
    claims = []
    if len(missed) == 1:
        claims.append(_skip_one(schedule, missed[0], launch, now, grace))
    elif missed:
        claims.append(_skip_many(schedule, missed, launch, grace))
    if launch is not None:
        claims.append(Claim(schedule, launch))
    return claims


def _skip_one(
    schedule: ScheduledJob,
    event: datetime.datetime,
    launch: datetime.datetime | None,
    now: datetime.datetime,
    grace: datetime.timedelta,
) -> Claim:
    if launch is not None and now - event <= grace:
        message = (
            f"Not launched: the later occurrence {_show(launch)} was due too "
            "and was launched instead; after a delay only the latest "
            "occurrence is launched."
        )
    else:
        late = _round(now - event)
        message = (
            f"Not launched: the occurrence was {late} late, more than the "
            f"grace period of {_round(grace)}; no scheduler ran it in time."
        )
    return Claim(schedule, event, JobRun.Status.SKIPPED, message)


def _skip_many(
    schedule: ScheduledJob,
    missed: list[datetime.datetime],
    launch: datetime.datetime | None,
    grace: datetime.timedelta,
) -> Claim:
    instead = (
        f"only the latest occurrence, {_show(launch)}, was launched"
        if launch is not None
        else "all were more than the grace period late"
    )
    message = (
        f"Not launched: {len(missed)} occurrences from {_show(missed[0])} to "
        f"{_show(missed[-1])} were missed while no scheduler ran them; "
        f"{instead} (grace period {_round(grace)})."
    )
    return Claim(schedule, missed[-1], JobRun.Status.SKIPPED, message)


def _show(moment: datetime.datetime) -> str:
    return str(moment.replace(microsecond=0))


def _round(delta: datetime.timedelta) -> datetime.timedelta:
    return datetime.timedelta(seconds=round(delta.total_seconds()))
