"""
Execute one run: start its job, store its output, record how it ended.

:func:`execute_job_run` is what the detached executor process calls (see
:mod:`batchrun.job_launching`), and what the ``batchrun_execute_job_run``
command calls in the foreground.  It never raises for a bad job: a command
line that cannot be built or a program that cannot be started ends the run
as ``launch_failed`` with the reason.

The job runs without a shell, with stdin from ``/dev/null``, in its own
process group (:mod:`batchrun.job_process`), with the environment of
:mod:`batchrun.job_environment`.  While it runs, the executor stores its
output in batches (within 0.2 seconds of its arrival, see
:mod:`batchrun.output_chunks`), beats the run's heartbeat every
``BATCHRUN_HEARTBEAT_INTERVAL`` seconds and, at each write, looks for a
cancel request.

When the database fails, the executor logs it and retries with a pause
growing to ten seconds.  Meanwhile it holds up to about 8 MiB of output;
beyond that it stops reading, so a job that keeps printing waits on its
pipe (its timeout still applies).  Without heartbeats a scheduler marks the
run ``lost`` after ``BATCHRUN_LOST_AFTER`` seconds; when the database
returns, the executor stores the output it held and records the real end
over ``lost``.  Once the job has ended, the executor tries for an hour
(``END_PATIENCE``) to record it, then gives up, logging an error.
"""

import contextlib
import datetime
import logging
import os
import signal
import socket
import time

from django.db import DatabaseError, connection
from django.utils import timezone

from . import conf, log_storage
from .exceptions import CommandLineError
from .job_environment import get_job_environment
from .job_process import CANCELLED, INTERRUPTED, TIMED_OUT, JobProcess, JobResult
from .models import JobRun
from .output_chunks import STDERR, STDOUT, LineChunker, OutputLog

logger = logging.getLogger(__name__)

FLUSH_BYTES = 1024 * 1024
FLUSH_INTERVAL = 0.2
MAX_UNSAVED_BYTES = 4 * 1024 * 1024
MAX_RETRY_PAUSE = 10.0
END_PATIENCE = 3600.0


def execute_job_run(run: JobRun) -> JobRun:
    """Run the job of a claimed run to its end and record everything on it."""
    return _Executor(run).execute()


class _Executor:
    def __init__(self, run: JobRun) -> None:
        self.run = run
        self.chunker = LineChunker()
        self.log = OutputLog(conf.max_output_bytes())
        self.heartbeat_interval = conf.heartbeat_interval()
        self.unsaved_fields: dict = {}
        self.heartbeat_due_at = 0.0
        self.retry_at = 0.0
        self.retry_pause = 0.0
        self.failing_since: float | None = None
        self.cancel_seen = False
        self.vanished = False
        self.storage_error: Exception | None = None

    def execute(self) -> JobRun:
        run = self.run
        try:
            argv = self._retry(run.job.get_command_line)
        except CommandLineError as error:
            self._record_launch_failure(None, f"The command line is invalid: {error}")
            return run
        if not self._claim(argv):
            return run
        timeout = run.job.timeout
        process = JobProcess(
            argv,
            get_job_environment(run),
            timeout.total_seconds() if timeout is not None else None,
            conf.kill_grace_period(),
        )
        try:
            process.start()
        except (OSError, ValueError) as error:
            self._record_launch_failure(argv, describe_start_error(argv[0], error))
            return run
        run.pid = process.pid
        self.unsaved_fields["pid"] = process.pid
        logger.info(
            "Job started: job=%s run=%s pid=%s", run.job.name, run.pk, process.pid
        )
        try:
            self._capture(process)
        except (KeyboardInterrupt, SystemExit):
            logger.warning("Executor interrupted, stopping the job: run=%s", run.pk)
            process.request_stop(INTERRUPTED)
            self._capture(process)
            self._record_end(process.wait())
            raise
        except Exception as error:
            # Never leave the job unwatched: wait for its end, then record it.
            self._stop_storing(error)
            _drain(process)
        self._record_end(process.wait())
        return run

    def _claim(self, argv: list[str]) -> bool:
        """Mark the run started, unless it was started or cancelled already."""
        run = self.run
        now = timezone.now()
        fields = {
            "started_at": now,
            "heartbeat_at": now,
            "host": socket.gethostname(),
            "command_line": argv,
        }
        waiting = JobRun.objects.filter(
            pk=run.pk, status=JobRun.Status.RUNNING, started_at__isnull=True
        )
        not_cancelled = waiting.filter(cancel_requested_at__isnull=True)
        if self._retry(not_cancelled.update, **fields):
            for name, value in fields.items():
                setattr(run, name, value)
            return True
        cancelled = {
            "status": JobRun.Status.KILLED,
            "stopped_at": now,
            "message": "The run was cancelled before its job started.",
        }
        if self._retry(waiting.update, **cancelled):
            for name, value in cancelled.items():
                setattr(run, name, value)
        else:
            logger.warning(
                "Run not executed: it is not a running run waiting to start: run=%s",
                run.pk,
            )
        return False

    def _capture(self, process: JobProcess) -> None:
        """Store the job's output as it comes, until the job has ended."""
        finished = False
        while not finished:
            wait = self._seconds_to_next_event()
            if self.log.unsaved_bytes >= MAX_UNSAVED_BYTES:
                time.sleep(wait)
            else:
                reads, finished = process.take_output(wait, FLUSH_BYTES, FLUSH_INTERVAL)
                self._add_output(reads, finished)
            if not finished and self._save_due():
                self._save({})
            if self.cancel_seen or self.vanished:
                process.request_stop(CANCELLED)

    def _seconds_to_next_event(self) -> float:
        now = time.monotonic()
        moment = self.retry_at if now < self.retry_at else self.heartbeat_due_at
        partial_due = self.chunker.next_flush_time()
        if partial_due is not None:
            moment = min(moment, now + partial_due - time.time())
        return min(max(moment - now, 0.0), self.heartbeat_interval)

    def _save_due(self) -> bool:
        now = time.monotonic()
        if self.vanished or now < self.retry_at:
            return False
        return bool(
            self.log.unsaved
            or self.log.unsaved_deletions
            or self.unsaved_fields
            or now >= self.heartbeat_due_at
        )

    def _add_output(self, reads: list, finished: bool) -> None:
        if self.storage_error is not None or self.vanished:
            return
        try:
            for stream, read_time, data in reads:
                self.chunker.feed(stream, read_time, data)
            if finished:
                self.chunker.flush_all()
            else:
                self.chunker.flush_due(time.time())
            for chunk in self.chunker.take_chunks():
                self.log.add(chunk)
        except Exception as error:
            self._stop_storing(error)

    def _save(self, fields: dict) -> bool:
        """Write the unsaved output and fields; return whether it worked."""
        run = self.run
        log = self.log
        fields = {
            **self.unsaved_fields,
            "heartbeat_at": timezone.now(),
            "stdout_lines": log.line_counts[STDOUT],
            "stderr_lines": log.line_counts[STDERR],
            "output_bytes": log.output_bytes,
            "dropped_bytes": log.dropped_bytes,
            **fields,
        }
        try:
            # The last attempt may have committed before it failed.
            if (
                self.failing_since is not None
                and log.unsaved
                and log_storage.is_saved(run.pk, log.unsaved[0].seq)
            ):
                log.take_saved()
            cancel = log_storage.save_output(
                run.pk, log.unsaved, log.unsaved_deletions, fields
            )
        except log_storage.RunVanishedError:
            logger.warning("Run deleted while its job ran, stopping it: run=%s", run.pk)
            self.vanished = True
            log.take_saved()
            return False
        except DatabaseError:
            self._note_database_failure()
            return False
        except Exception as error:
            self._stop_storing(error)
            return False
        if self.failing_since is not None:
            logger.warning("Database reachable again: run=%s", run.pk)
        self.failing_since = None
        self.retry_at = self.retry_pause = 0.0
        self.heartbeat_due_at = time.monotonic() + self.heartbeat_interval
        log.take_saved()
        self.unsaved_fields = {}
        for name, value in fields.items():
            setattr(run, name, value)
        if cancel and not self.cancel_seen:
            logger.info("Cancel requested, stopping the job: run=%s", run.pk)
            self.cancel_seen = True
        return True

    def _note_database_failure(self) -> None:
        now = time.monotonic()
        if self.failing_since is None:
            logger.exception("Cannot store the run, will retry: run=%s", self.run.pk)
            self.failing_since = now
        else:
            logger.warning(
                "Database still failing: run=%s seconds=%.0f",
                self.run.pk,
                now - self.failing_since,
            )
        self.retry_pause = min(max(self.retry_pause * 2, 0.5), MAX_RETRY_PAUSE)
        self.retry_at = now + self.retry_pause
        _close_connection()

    def _stop_storing(self, error: Exception) -> None:
        logger.exception(
            "Storing the output failed, dropping the rest: run=%s", self.run.pk
        )
        self.storage_error = error
        self.log.take_saved()

    def _record_end(self, result: JobResult) -> None:
        run = self.run
        status, message = describe_result(result, run.job.timeout)
        if self.storage_error is not None:
            message = _join(
                message,
                f"Storing the output failed ({self.storage_error!r}); the "
                "output from then on was not stored.",
            )
        fields = {
            "status": status,
            "exit_code": result.returncode,
            "stopped_at": datetime.datetime.fromtimestamp(
                result.ended_at, datetime.UTC
            ),
            "message": _join(message, self.log.describe_cut()),
        }
        while not self._save(fields):
            if self.vanished:
                return
            if self.failing_since is None:
                # Not the database: record the end without the output.
                self._retry(JobRun.objects.filter(pk=run.pk).update, **fields)
                break
            if time.monotonic() - self.failing_since > END_PATIENCE:
                logger.error(
                    "Giving up recording the end of the run: run=%s status=%s",
                    run.pk,
                    status,
                )
                return
            time.sleep(max(0.0, self.retry_at - time.monotonic()))
        logger.info(
            "Job ended: job=%s run=%s status=%s exit_code=%s",
            run.job.name,
            run.pk,
            status,
            result.returncode,
        )

    def _record_launch_failure(self, argv: list[str] | None, message: str) -> None:
        run = self.run
        logger.warning(
            "Launch failed: job=%s run=%s reason=%s", run.job.name, run.pk, message
        )
        fields = {
            "status": JobRun.Status.LAUNCH_FAILED,
            "started_at": None,
            "stopped_at": timezone.now(),
            "message": message,
        }
        if argv is not None:
            fields["command_line"] = argv
        for name, value in fields.items():
            setattr(run, name, value)
        self._retry(JobRun.objects.filter(pk=run.pk).update, **fields)

    def _retry(self, function, *args, **kwargs):
        """Call function, retrying on database errors for END_PATIENCE seconds."""
        started = time.monotonic()
        pause = 0.5
        while True:
            try:
                return function(*args, **kwargs)
            except DatabaseError:
                if time.monotonic() - started > END_PATIENCE:
                    raise
                logger.exception("Database error, will retry: run=%s", self.run.pk)
                _close_connection()
                time.sleep(pause)
                pause = min(pause * 2, MAX_RETRY_PAUSE)


def _drain(process: JobProcess) -> None:
    """Read and drop the job's output until it ends."""
    finished = False
    while not finished:
        _reads, finished = process.take_output(1.0, FLUSH_BYTES, FLUSH_INTERVAL)


def describe_result(
    result: JobResult, timeout: datetime.timedelta | None
) -> tuple[str, str]:
    """Return the status and the message for how a job ended."""
    stopping = ""
    if result.stop_reason is not None:
        stopping = "TERM was sent to its process group"
        if result.kill_sent:
            stopping += ", then KILL after the grace period"
    if result.error is not None:
        status = JobRun.Status.KILLED
        message = f"The executor failed ({result.error!r}) and killed the job."
    elif result.stop_reason == TIMED_OUT:
        status = JobRun.Status.TIMED_OUT
        message = f"The job ran longer than its timeout of {timeout}: {stopping}."
    elif result.stop_reason == CANCELLED:
        status = JobRun.Status.KILLED
        message = f"The run was cancelled: {stopping}."
    elif result.stop_reason == INTERRUPTED:
        status = JobRun.Status.KILLED
        message = f"The executor was interrupted: {stopping}."
    elif result.returncode < 0:
        status = JobRun.Status.KILLED
        message = f"The job was ended by signal {_signal_name(-result.returncode)}."
    elif result.returncode == 0:
        status, message = JobRun.Status.SUCCEEDED, ""
    else:
        status, message = JobRun.Status.FAILED, ""
    if result.output_left_open:
        message = _join(
            message,
            "A process the job started kept its output open after the job "
            "ended; what it printed later was not stored.",
        )
    return status, message


def describe_start_error(program: str, error: Exception) -> str:
    """Return a sentence on why a program could not be started."""
    if isinstance(error, FileNotFoundError):
        where = "" if os.sep in program else " on PATH"
        return f"No executable {program!r} was found{where}."
    if isinstance(error, PermissionError):
        return f"Permission denied to execute {program!r}; is it executable?"
    reason = getattr(error, "strerror", None) or str(error)
    return f"The program {program!r} could not be started: {reason}."


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return str(number)


def _join(*sentences: str) -> str:
    return " ".join(sentence for sentence in sentences if sentence)


def _close_connection() -> None:
    """Drop a failed database connection; Django reconnects when needed."""
    with contextlib.suppress(DatabaseError):
        connection.close()
