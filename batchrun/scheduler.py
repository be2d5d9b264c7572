"""
The scheduler loop: launch every occurrence once, on time, and keep going.

:class:`Scheduler` does one pass with :meth:`Scheduler.run_once` and loops
with :meth:`Scheduler.run_forever`; ``manage.py batchrun_scheduler`` only
parses options and wires signals to :meth:`Scheduler.stop`.  A pass:

1. closes stale database connections and updates this scheduler's
   heartbeat row when it is due;
2. reloads the enabled schedules every poll interval, restarting the cursor
   (:mod:`batchrun.planning`) of each new or changed schedule;
3. marks runs whose executor vanished as lost;
4. claims the due occurrences (:mod:`batchrun.claiming`) and launches the
   runs whose claim this scheduler won.

Between passes it sleeps until the next event, reload or heartbeat, in
steps of at most a second on the monotonic clock, rechecking the wall clock
after each, so that a clock jump cannot make it oversleep.  It holds no
transaction while sleeping.  A database error (a server restart, a dropped
connection) is logged as a warning; the scheduler backs off, reconnects and
rebuilds its cursors from the recorded runs, so occurrences that fell due
meanwhile are launched if still within their grace period.
"""

import contextlib
import datetime
import logging
import os
import select
import socket
from collections.abc import Callable, Sequence

from django.db import DatabaseError, close_old_connections, connections
from django.db.models import Max
from django.utils import timezone

from . import conf, job_launching
from .claiming import Claim, claim_occurrences
from .lost_runs import mark_lost_runs
from .models import JobRun, ScheduledJob, SchedulerHeartbeat
from .planning import ScheduleCursor, get_cursor_start, get_rule_signature, plan_claims

logger = logging.getLogger(__name__)

MAX_SLEEP_STEP = 1.0
MAX_BACKOFF = 10.0

Launcher = Callable[[Sequence[JobRun]], None]


class Scheduler:
    """Claim and launch due occurrences; see the module docstring."""

    def __init__(self, *, launch: Launcher | None = None) -> None:
        self.launch = launch or job_launching.launch_runs
        self.host = socket.gethostname()
        self.pid = os.getpid()
        self.stopping = False
        self.failures = 0
        self._cursors: dict[int, ScheduleCursor] = {}
        self._invalid: dict[int, tuple] = {}
        self._reload_at: datetime.datetime | None = None
        self._heartbeat: SchedulerHeartbeat | None = None
        self._heartbeat_at: datetime.datetime | None = None
        self._wake_read, self._wake_write = os.pipe()
        os.set_blocking(self._wake_read, False)
        os.set_blocking(self._wake_write, False)

    @property
    def wakeup_fd(self) -> int:
        """A descriptor that wakes the loop; give it to signal.set_wakeup_fd."""
        return self._wake_write

    def stop(self) -> None:
        """Ask the loop to stop after the current pass; safe in a handler."""
        self.stopping = True
        with contextlib.suppress(OSError):
            os.write(self._wake_write, b"\0")

    def run_forever(self, *, max_ticks: int | None = None) -> None:
        """
        Loop until stopped, or after ``max_ticks`` passes; never raise.

        ``failures`` tells afterwards how many passes in a row had failed.
        """
        ticks = 0
        logger.info("Scheduler starting host=%s pid=%s", self.host, self.pid)
        try:
            while not self.stopping:
                ticks += 1
                try:
                    self.run_once()
                except Exception as error:
                    self.failures += 1
                    if max_ticks is not None and ticks >= max_ticks:
                        self._log_failure(error, 0.0)
                        break
                    self._recover(error)
                    continue
                self.failures = 0
                if max_ticks is not None and ticks >= max_ticks:
                    break
                self._sleep_until(self.get_next_wake())
        finally:
            self._unregister()
            self.close()
            logger.info("Scheduler stopped host=%s pid=%s", self.host, self.pid)

    def close(self) -> None:
        """Release the wake-up pipe; the loop cannot run afterwards."""
        for fd in (self._wake_read, self._wake_write):
            if fd >= 0:
                os.close(fd)
        self._wake_read = self._wake_write = -1

    def run_once(self) -> list[JobRun]:
        """Do one pass and return the runs it recorded (launched or skipped)."""
        close_old_connections()
        try:
            now = timezone.now()
            if self._heartbeat_at is None or now >= self._heartbeat_at:
                self._beat(now)
            if self._reload_at is None or now >= self._reload_at:
                self._reload(now)
            lost = mark_lost_runs()
            if lost:
                logger.warning("Marked runs lost count=%s", lost)
            runs = self._claim_due(timezone.now())
        finally:
            close_old_connections()
        launched = [run for run in runs if run.status == JobRun.Status.RUNNING]
        if launched:
            self.launch(launched)
        for run in launched:
            logger.info(
                "Launched run=%s job=%s scheduled_for=%s",
                run.pk,
                run.job.name,
                run.scheduled_for,
            )
        return runs

    def get_next_wake(self) -> datetime.datetime:
        """Return when the next pass is due: event, reload or heartbeat."""
        moments = [
            cursor.next_event
            for cursor in self._cursors.values()
            if cursor.next_event is not None
        ]
        moments.extend(m for m in (self._reload_at, self._heartbeat_at) if m)
        return min(moments, default=timezone.now())

    def _claim_due(self, now: datetime.datetime) -> list[JobRun]:
        claims: list[Claim] = []
        for cursor in self._cursors.values():
            due = cursor.take_due(now)
            claims.extend(plan_claims(cursor.schedule, due, now))
        if not claims:
            return []
        runs = claim_occurrences(claims, now)
        for run in runs:
            if run.status == JobRun.Status.SKIPPED:
                logger.warning(
                    "Skipped run=%s job=%s scheduled_for=%s reason=%s",
                    run.pk,
                    run.job.name,
                    run.scheduled_for,
                    run.message,
                )
        return runs

    def _reload(self, now: datetime.datetime) -> None:
        schedules = list(
            ScheduledJob.objects.filter(enabled=True).select_related(
                "job", "job__command"
            )
        )
        fresh = []
        for schedule in schedules:
            cursor = self._cursors.get(schedule.pk)
            if cursor is not None and cursor.signature == get_rule_signature(schedule):
                cursor.schedule = schedule  # grace period, job, overlap policy
            else:
                fresh.append(schedule)
        live = {schedule.pk for schedule in schedules}
        for pk in set(self._cursors) - live:
            del self._cursors[pk]
        latest = _get_latest_recorded([schedule.pk for schedule in fresh])
        for schedule in fresh:
            start = get_cursor_start(schedule, latest.get(schedule.pk), now)
            if schedule.pk in self._cursors:
                # The rule changed without a save (a raw update): never fire
                # the new rule's past minutes.
                start = max(start, now)
            self._open_cursor(schedule, start)
        self._reload_at = now + datetime.timedelta(seconds=conf.poll_interval())
        logger.debug("Schedules reloaded count=%s new=%s", len(schedules), len(fresh))

    def _open_cursor(self, schedule: ScheduledJob, start: datetime.datetime) -> None:
        signature = get_rule_signature(schedule)
        try:
            self._cursors[schedule.pk] = ScheduleCursor(schedule, start)
        except Exception as error:
            self._cursors.pop(schedule.pk, None)
            if self._invalid.get(schedule.pk) != signature:
                self._invalid[schedule.pk] = signature
                logger.warning(
                    "Ignoring scheduled job with an invalid rule schedule=%s "
                    "job=%s error=%s",
                    schedule.pk,
                    schedule.job.name,
                    error,
                )
            return
        self._invalid.pop(schedule.pk, None)

    def _beat(self, now: datetime.datetime) -> None:
        updated = 0
        if self._heartbeat is not None:
            updated = SchedulerHeartbeat.objects.filter(pk=self._heartbeat.pk).update(
                last_seen_at=now
            )
        if not updated:
            self._heartbeat = SchedulerHeartbeat.objects.create(
                host=self.host, pid=self.pid, started_at=now, last_seen_at=now
            )
        self._heartbeat_at = now + datetime.timedelta(seconds=conf.heartbeat_interval())

    def _unregister(self) -> None:
        if self._heartbeat is None:
            return
        try:
            SchedulerHeartbeat.objects.filter(pk=self._heartbeat.pk).delete()
        except DatabaseError as error:
            logger.warning("Could not remove the heartbeat row error=%s", error)
        finally:
            self._heartbeat = None
            connections.close_all()

    def _recover(self, error: Exception) -> None:
        delay = min(MAX_BACKOFF, conf.poll_interval(), 0.5 * 2 ** (self.failures - 1))
        self._log_failure(error, delay)
        # Rebuild from the recorded runs once the database answers again.
        self._cursors.clear()
        self._reload_at = None
        self._heartbeat_at = None
        with contextlib.suppress(DatabaseError):
            connections.close_all()
        self._sleep_until(timezone.now() + datetime.timedelta(seconds=delay))

    def _log_failure(self, error: Exception, delay: float) -> None:
        if isinstance(error, DatabaseError):
            logger.warning(
                "Database error, retrying delay=%.1fs failures=%s error=%s",
                delay,
                self.failures,
                error,
            )
        else:
            logger.exception("Unexpected error in the scheduler loop")

    def _sleep_until(self, moment: datetime.datetime) -> None:
        while not self.stopping:
            remaining = (moment - timezone.now()).total_seconds()
            if remaining <= 0:
                return
            step = min(remaining, MAX_SLEEP_STEP)
            readable, _, _ = select.select([self._wake_read], [], [], step)
            if readable:
                _drain(self._wake_read)


def _drain(fd: int) -> None:
    try:
        while os.read(fd, 512):
            pass
    except BlockingIOError:
        pass


def _get_latest_recorded(schedule_ids: list[int]) -> dict[int, datetime.datetime]:
    latest = {}
    for start in range(0, len(schedule_ids), 500):
        chunk = schedule_ids[start : start + 500]
        rows = (
            JobRun.objects.filter(scheduled_job_id__in=chunk)
            .values("scheduled_job_id")
            .annotate(latest=Max("scheduled_for"))
        )
        latest.update((row["scheduled_job_id"], row["latest"]) for row in rows)
    return latest
