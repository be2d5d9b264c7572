"""
Claim occurrences: record each as a JobRun row that exactly one scheduler wins.

The unique constraint on ``(scheduled_job, scheduled_for)`` is the arbiter.
A scheduler inserts the row and launches the run only if its own insert
succeeded; it never selects first and inserts when nothing was found, since
two schedulers could both find nothing.  The databases differ in how a lost
race shows:

* PostgreSQL aborts the whole transaction on a duplicate key, so each insert
  runs in its own savepoint and a duplicate rolls back just that insert.
* MariaDB makes the second insert of a key wait for the first transaction
  and may report a deadlock when several schedulers insert the same keys;
  the batch is then retried.  Sorting the claims gives every scheduler the
  same lock order, which keeps deadlocks rare.
* SQLite has one writer at a time.  The settings ask for IMMEDIATE
  transactions and a busy timeout, so a second scheduler waits for the lock
  instead of failing; "database is locked" after the timeout is retried.

Claims are inserted in batches, one transaction per batch, and the
transaction commits before anything is launched.
"""

import dataclasses
import datetime
import logging
import random
import time
from collections.abc import Iterable

from django.db import DatabaseError, IntegrityError, OperationalError, transaction
from django.utils import timezone

from .models import Job, JobRun, ScheduledJob

logger = logging.getLogger(__name__)

BATCH_SIZE = 50
MAX_ATTEMPTS = 5

# MariaDB: 1205 lock wait timeout, 1213 deadlock.  PostgreSQL: serialization
# failure and deadlock detected.
_MYSQL_TRANSIENT_CODES = {1205, 1213}
_POSTGRESQL_TRANSIENT_STATES = {"40001", "40P01"}


@dataclasses.dataclass
class Claim:
    """One occurrence to record: launched (status running) or skipped."""

    scheduled_job: ScheduledJob
    scheduled_for: datetime.datetime
    status: str = JobRun.Status.RUNNING
    message: str = ""

    @property
    def sort_key(self) -> tuple[datetime.datetime, int]:
        return (self.scheduled_for, self.scheduled_job.pk)


def claim_occurrences(
    claims: Iterable[Claim], now: datetime.datetime | None = None
) -> list[JobRun]:
    """
    Insert a run for each claim and return the runs this process inserted.

    A claim whose occurrence another scheduler recorded first is left out of
    the result.  A claim to launch a job whose overlap policy is ``skip``
    while a run of that job is still running is recorded as skipped.
    """
    now = now or timezone.now()
    ordered = sorted(claims, key=lambda claim: claim.sort_key)
    won = []
    for start in range(0, len(ordered), BATCH_SIZE):
        won.extend(_claim_batch(ordered[start : start + BATCH_SIZE], now))
    return won


def _claim_batch(claims: list[Claim], now: datetime.datetime) -> list[JobRun]:
    for attempt in range(1, MAX_ATTEMPTS + 1):
        try:
            with transaction.atomic():
                return _insert_runs(claims, now, savepoints=True)
        except IntegrityError:
            # A deferred foreign key failed at commit: a scheduled job was
            # deleted meanwhile.  Insert one by one so the others survive.
            return _claim_one_by_one(claims, now)
        except OperationalError as error:
            if attempt == MAX_ATTEMPTS or not is_transient_error(error):
                raise
            delay = random.uniform(0.01, 0.05) * 2**attempt
            logger.warning(
                "Retrying claims after a transient database error "
                "attempt=%s delay=%.2fs error=%s",
                attempt,
                delay,
                error,
            )
            time.sleep(delay)
    raise AssertionError("unreachable")  # pragma: no cover


def _claim_one_by_one(claims: list[Claim], now: datetime.datetime) -> list[JobRun]:
    won = []
    for claim in claims:
        try:
            with transaction.atomic():
                runs = _insert_runs([claim], now, savepoints=False)
        except IntegrityError:
            continue
        won.extend(runs)
    return won


def _insert_runs(
    claims: list[Claim], now: datetime.datetime, *, savepoints: bool
) -> list[JobRun]:
    busy = _get_busy_jobs(claims)
    won = []
    for claim in claims:
        run = _build_run(claim, busy, now)
        if savepoints:
            try:
                with transaction.atomic():
                    run.save(force_insert=True)
            except IntegrityError:
                logger.debug(
                    "Occurrence already claimed schedule=%s scheduled_for=%s",
                    claim.scheduled_job.pk,
                    claim.scheduled_for,
                )
                continue
        else:
            run.save(force_insert=True)
        if run.status == JobRun.Status.RUNNING:
            busy.setdefault(run.job_id, run)
        won.append(run)
    return won


def _get_busy_jobs(claims: list[Claim]) -> dict[int, JobRun]:
    """Return the running run of each skip-policy job among the claims."""
    job_ids = {
        claim.scheduled_job.job_id
        for claim in claims
        if claim.status == JobRun.Status.RUNNING
        and claim.scheduled_job.job.overlap_policy == Job.OverlapPolicy.SKIP
    }
    if not job_ids:
        return {}
    busy = {}
    for run in JobRun.objects.running().filter(job_id__in=job_ids).only("job_id"):
        busy.setdefault(run.job_id, run)
    return busy


def _build_run(claim: Claim, busy: dict[int, JobRun], now: datetime.datetime) -> JobRun:
    schedule = claim.scheduled_job
    status, message = claim.status, claim.message
    if (
        status == JobRun.Status.RUNNING
        and schedule.job.overlap_policy == Job.OverlapPolicy.SKIP
        and schedule.job_id in busy
    ):
        status = JobRun.Status.SKIPPED
        message = (
            f"Not launched: run #{busy[schedule.job_id].pk} of this job was "
            "still running and the job's overlap policy is skip."
        )
    return JobRun(
        job=schedule.job,
        scheduled_job=schedule,
        scheduled_for=claim.scheduled_for,
        trigger=JobRun.Trigger.SCHEDULE,
        status=status,
        message=message,
        created_at=now,
        heartbeat_at=now if status == JobRun.Status.RUNNING else None,
        stopped_at=now if status == JobRun.Status.SKIPPED else None,
    )


def is_transient_error(error: DatabaseError) -> bool:
    """Tell whether retrying the transaction may succeed (lock, deadlock)."""
    cause = error.__cause__
    if getattr(cause, "sqlstate", None) in _POSTGRESQL_TRANSIENT_STATES:
        return True
    args = getattr(cause, "args", ())
    if args and args[0] in _MYSQL_TRANSIENT_CODES:
        return True
    return "database is locked" in str(error)
