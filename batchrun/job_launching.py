"""
Launch runs in detached executor processes that outlive their launcher.

A run is launched after its row is committed, with status ``running`` and
no pid; the executor (:func:`batchrun.job_running.execute_job_run`) fills
in the pid, host and start time.  Killing or restarting the scheduler or
the web server that launched a run never stops it.

Two methods:

``fork`` (the default in a single-threaded process such as the scheduler)
    The launcher closes its database connections, so that no socket is
    shared, and forks one intermediate process per group of runs; the
    intermediates of a batch fork side by side.  Each
    intermediate starts a new session and forks one executor per run, then
    exits at once and is reaped at once, so no zombie is left behind and the
    executors belong to no terminal and to no launcher.  Each executor
    enters python-daemon's ``DaemonContext`` without forking again: it
    closes every inherited file descriptor, binds stdin, stdout and stderr
    to ``/dev/null``, sets the umask to 022 and keeps the launcher's working
    directory, so that relative paths in commands mean what they meant to
    the scheduler.  A fork costs milliseconds where a new Python that sets
    Django up costs half a second of CPU.  No exception of an executor ever
    returns into the launcher's code: both children end with ``os._exit``.

``spawn`` (the default in a process with threads, such as a web server)
    Starts ``manage.py batchrun_execute_job_run RUN_ID`` (or ``python -m
    django ...``) in a new session through a tiny trampoline that forks it
    and exits, so it is reparented to init as well.

A run whose executor cannot be started (fork failed) is recorded as
``launch_failed`` with the reason.  A run whose job cannot be built into a
command line is recorded as ``launch_failed`` by the executor.
"""

import contextlib
import logging
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Sequence

import daemon
from django.db import connections, transaction
from django.utils import timezone

from . import conf
from .exceptions import LaunchError
from .job_environment import add_django_settings
from .job_running import execute_job_run
from .models import Job, JobRun

logger = logging.getLogger(__name__)

FORK = "fork"
SPAWN = "spawn"
METHODS = (FORK, SPAWN)

# Runs started through one intermediate process; also bounds the size of
# its report, which must fit in a pipe's buffer.
GROUP_SIZE = 16

_BLOCKED_SIGNALS = {signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT}
_REPORT_LIMIT = 300

_TRAMPOLINE = (
    "import os, sys\n"
    "if os.fork() == 0:\n"
    "    os.execv(sys.argv[1], sys.argv[1:])\n"
    "os._exit(0)\n"
)


def run_job(job: Job, *, method: str | None = None) -> JobRun:
    """
    Create a manual run of a job and launch it; return the run.

    Inside a transaction the launch waits until the transaction commits,
    since the executor must be able to read the run.
    """
    run = JobRun.objects.create(
        job=job,
        trigger=JobRun.Trigger.MANUAL,
        status=JobRun.Status.RUNNING,
        heartbeat_at=timezone.now(),
    )
    logger.info("Manual run created run=%s job=%s", run.pk, job.name)
    transaction.on_commit(lambda: launch_runs([run], method=method))
    return run


def launch_run(run: JobRun, *, method: str | None = None) -> None:
    """Launch one committed run; see :func:`launch_runs`."""
    launch_runs([run], method=method)


def launch_runs(runs: Sequence[JobRun], *, method: str | None = None) -> None:
    """
    Start a detached executor for each committed run.

    ``method`` is ``"fork"`` or ``"spawn"``; by default fork when the
    process has a single thread.  Runs whose executor could not be started
    are recorded as ``launch_failed``.
    """
    if not runs:
        return
    method = method or get_default_method()
    if method not in METHODS:
        msg = f"Unknown launch method {method!r}; use 'fork' or 'spawn'."
        raise ValueError(msg)
    if any(connection.in_atomic_block for connection in connections.all()):
        msg = (
            "Runs cannot be launched inside a transaction, since the executor "
            "could not read them; launch from transaction.on_commit()."
        )
        raise LaunchError(msg)
    failures = _fork_runs(runs) if method == FORK else _spawn_runs(runs)
    for run, reason in failures:
        record_launch_failure(run, reason)


def get_default_method() -> str:
    """Return ``fork`` in a single-threaded process, else ``spawn``."""
    if hasattr(os, "fork") and threading.active_count() == 1:
        return FORK
    return SPAWN


def record_launch_failure(run: JobRun, reason: str) -> None:
    """Record that a run's executor could not be started."""
    message = f"The executor could not be started: {reason}"
    JobRun.objects.filter(
        pk=run.pk, status=JobRun.Status.RUNNING, started_at__isnull=True
    ).update(
        status=JobRun.Status.LAUNCH_FAILED, message=message, stopped_at=timezone.now()
    )
    logger.error("Launch failed run=%s job=%s reason=%s", run.pk, run.job_id, reason)


def _fork_runs(runs: Sequence[JobRun]) -> list[tuple[JobRun, str]]:
    # A forked child must never use the parent's connections: closing or
    # using one there would act on the parent's socket.
    connections.close_all()
    working_directory = os.getcwd()
    # All intermediates fork side by side: one alone, competing for the CPU
    # with the executors it has already started, would fork slowly.
    started, failures = [], []
    for start in range(0, len(runs), GROUP_SIZE):
        group = runs[start : start + GROUP_SIZE]
        try:
            started.append((group, *_start_group(group, working_directory)))
        except OSError as error:
            failures.extend((run, f"fork failed: {error}.") for run in group)
    for group, pid, read_fd in started:
        failures.extend(_finish_group(group, pid, read_fd))
    return failures


def _start_group(runs: Sequence[JobRun], working_directory: str) -> tuple[int, int]:
    """Fork the intermediate of a group of runs; return its pid and pipe."""
    read_fd, write_fd = os.pipe()
    # Signals stay blocked until each child has set its own handlers, so
    # that a SIGTERM for the scheduler never runs the scheduler's handler
    # in a child.
    mask = signal.pthread_sigmask(signal.SIG_BLOCK, _BLOCKED_SIGNALS)
    try:
        pid = os.fork()
    except OSError:
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)
        os.close(read_fd)
        os.close(write_fd)
        raise
    if pid == 0:
        _intermediate_main(runs, read_fd, write_fd, working_directory, mask)
    signal.pthread_sigmask(signal.SIG_SETMASK, mask)
    os.close(write_fd)
    return pid, read_fd


def _finish_group(
    runs: Sequence[JobRun], pid: int, read_fd: int
) -> list[tuple[JobRun, str]]:
    """Reap a group's intermediate; return the runs it could not start."""
    _, status = os.waitpid(pid, 0)
    report = _read_report(read_fd)
    if status != 0:
        logger.error(
            "Launcher process ended abnormally status=%s runs=%s",
            status,
            ",".join(str(run.pk) for run in runs),
        )
    by_pk = {str(run.pk): run for run in runs}
    failures = []
    for line in report.splitlines():
        outcome, pk, *reason = line.split(" ", 2)
        if outcome == "ok":
            logger.debug("Executor forked run=%s", pk)
        elif pk in by_pk:
            failures.append((by_pk[pk], "".join(reason)))
    return failures


def _read_report(read_fd: int) -> str:
    # The intermediate wrote its whole report before it exited; executors
    # close their copy of the pipe late, so do not wait for end of file.
    os.set_blocking(read_fd, False)
    chunks = []
    try:
        while chunk := os.read(read_fd, 65536):
            chunks.append(chunk)
    except BlockingIOError:
        pass
    finally:
        os.close(read_fd)
    return b"".join(chunks).decode("utf-8", "replace")


def _intermediate_main(
    runs: Sequence[JobRun],
    read_fd: int,
    write_fd: int,
    working_directory: str,
    mask: set[signal.Signals],
) -> None:
    status = 1
    try:
        os.close(read_fd)
        _forget_wakeup_fd()
        os.setsid()
        for run in runs:
            try:
                pid = os.fork()
            except OSError as error:
                _report(write_fd, f"failed {run.pk} fork failed: {error}.")
                continue
            if pid == 0:
                os.close(write_fd)
                _executor_main(run, working_directory, mask)
            _report(write_fd, f"ok {run.pk}")
        status = 0
    finally:
        os._exit(status)


def _executor_main(
    run: JobRun, working_directory: str, mask: set[signal.Signals]
) -> None:
    status = 1
    try:
        for signum in _BLOCKED_SIGNALS:
            signal.signal(signum, signal.SIG_DFL)
        context = daemon.DaemonContext(
            working_directory=working_directory,
            umask=0o022,
            detach_process=False,
            prevent_core=False,
        )
        # DaemonContext binds descriptors 0-2 through sys.stdin and friends,
        # which a host such as pytest may have replaced by objects without a
        # descriptor.
        sys.stdin, sys.stdout, sys.stderr = (_Descriptor(fd) for fd in (0, 1, 2))
        context.open()
        sys.stdin = open(0, closefd=False)  # noqa: SIM115
        sys.stdout = open(1, "w", closefd=False)  # noqa: SIM115
        sys.stderr = open(2, "w", closefd=False)  # noqa: SIM115
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)
        execute_job_run(run)
        status = 0
    except BaseException:
        logger.exception("Executor failed run=%s", run.pk)
    finally:
        os._exit(status)


class _Descriptor:
    """A standard stream reduced to its file descriptor."""

    def __init__(self, fd: int) -> None:
        self.fd = fd

    def fileno(self) -> int:
        return self.fd


def _report(write_fd: int, line: str) -> None:
    text = line.replace("\n", " ")[:_REPORT_LIMIT] + "\n"
    os.write(write_fd, text.encode("utf-8", "replace"))


def _forget_wakeup_fd() -> None:
    # The scheduler's signal wake-up pipe must not receive a child's signals.
    with contextlib.suppress(ValueError):
        signal.set_wakeup_fd(-1)


def _spawn_runs(runs: Sequence[JobRun]) -> list[tuple[JobRun, str]]:
    environment = get_executor_environment()
    failures = []
    for run in runs:
        argv = [*get_manage_prefix(), "batchrun_execute_job_run", str(run.pk)]
        try:
            subprocess.run(
                [sys.executable, "-I", "-S", "-c", _TRAMPOLINE, *argv],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                env=environment,
                start_new_session=True,
                check=True,
                timeout=30,
            )
        except (OSError, subprocess.SubprocessError) as error:
            failures.append((run, f"{error}."))
        else:
            logger.debug("Executor spawned run=%s", run.pk)
    return failures


def get_manage_prefix() -> list[str]:
    """Return the argv prefix that runs a management command of this project."""
    manage_py = conf.manage_py()
    if manage_py:
        return [sys.executable, manage_py]
    return [sys.executable, "-m", "django"]


def get_executor_environment() -> dict[str, str]:
    """Return an environment in which a new Python finds these settings."""
    environment = dict(os.environ)
    add_django_settings(environment)
    return environment
