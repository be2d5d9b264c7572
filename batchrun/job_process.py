"""
Run a job's process group and read its output, never waiting on a database.

:class:`JobProcess` starts the job without a shell, with stdin from
``/dev/null``, in a new session (so in its own process group), and reads
both pipes in a thread.  Reads are large (up to 1 MiB; the pipes are
enlarged to 1 MiB where Linux allows it) and are handed over as they come,
each with its stream and the time it was read.  The caller stores them at
its own pace; when it falls behind by ``MAX_BUFFERED`` bytes the thread
stops reading, so the job waits on a full pipe and memory stays bounded.

The thread also stops the job: when its timeout passes or a stop is
requested, it sends TERM to the whole process group and, if the job's main
process is still alive after the grace period, KILL.  Its main process is
reaped only at the end, so its pid keeps naming the group until then.
"""

import contextlib
import dataclasses
import fcntl
import logging
import os
import selectors
import signal
import subprocess
import threading
import time

logger = logging.getLogger(__name__)

READ_BYTES = 1024 * 1024
PIPE_BYTES = 1024 * 1024
MAX_BUFFERED = 4 * 1024 * 1024
WAKE_BYTES = 1024 * 1024
GATHER_MIN_BYTES = 4096
GATHER_MAX_BYTES = 256 * 1024
GATHER_SECONDS = 0.002
BURST = 0.001
EXIT_DRAIN_SECONDS = 2.0
TICK = 0.1

TIMED_OUT = "timed_out"
CANCELLED = "cancelled"
INTERRUPTED = "interrupted"


@dataclasses.dataclass
class JobResult:
    """How a job's process ended."""

    returncode: int
    ended_at: float = 0.0
    stop_reason: str | None = None
    kill_sent: bool = False
    output_left_open: bool = False
    error: BaseException | None = None


class JobProcess:
    """A job's running process group and the thread that reads its output."""

    def __init__(
        self,
        argv: list[str],
        env: dict[str, str],
        timeout: float | None,
        kill_grace_period: float,
    ) -> None:
        self.argv = argv
        self.env = env
        self.timeout = timeout
        self.kill_grace_period = kill_grace_period
        self.pid: int | None = None
        self._process: subprocess.Popen | None = None
        self._thread: threading.Thread | None = None
        self._condition = threading.Condition()
        self._reads: list[tuple[int, float, bytes]] = []
        self._read_bytes = 0
        self._first_read_at = 0.0
        self._finished = False
        self._stop_request: str | None = None
        self._deadline: float | None = None
        self._kill_at: float | None = None
        self._result = JobResult(returncode=0)

    def start(self) -> None:
        """Start the job; raise OSError when it cannot be started."""
        self._process = subprocess.Popen(
            self.argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=self.env,
            start_new_session=True,
            bufsize=0,
        )
        self.pid = self._process.pid
        started = time.monotonic()
        if self.timeout is not None:
            self._deadline = started + self.timeout
        for pipe in (self._process.stdout, self._process.stderr):
            _enlarge_pipe(pipe.fileno())
        self._thread = threading.Thread(
            target=self._run, name=f"batchrun-job-{self.pid}", daemon=True
        )
        self._thread.start()

    def take_output(
        self, wait: float, min_bytes: int, max_age: float
    ) -> tuple[list[tuple[int, float, bytes]], bool]:
        """
        Return the reads so far, and whether the job and its output ended.

        Wait up to ``wait`` seconds for ``min_bytes`` of output, or for
        output that arrived ``max_age`` seconds ago, or for the end.
        """
        deadline = time.monotonic() + wait
        with self._condition:
            while not self._finished:
                now = time.monotonic()
                if self._read_bytes >= min_bytes:
                    break
                remaining = deadline - now
                if self._reads:
                    remaining = min(remaining, self._first_read_at + max_age - now)
                if remaining <= 0:
                    break
                self._condition.wait(remaining)
            reads, self._reads, self._read_bytes = self._reads, [], 0
            self._condition.notify_all()
            return reads, self._finished

    def request_stop(self, reason: str) -> None:
        """Ask the job to stop: TERM now, KILL after the grace period."""
        with self._condition:
            if self._stop_request is None:
                self._stop_request = reason

    def wait(self) -> JobResult:
        """Wait until the job has ended and its output is read; return how."""
        if self._thread is not None:
            self._thread.join()
        return self._result

    def _run(self) -> None:
        try:
            self._read_output()
            self._wait_for_exit()
        except BaseException as error:
            logger.exception("Job supervision failed: pid=%s", self.pid)
            self._result.error = error
            self._signal(signal.SIGKILL)
        finally:
            self._result.returncode = self._process.wait()
            self._result.ended_at = time.time()
            for pipe in (self._process.stdout, self._process.stderr):
                pipe.close()
            with self._condition:
                self._finished = True
                self._condition.notify_all()

    def _read_output(self) -> None:
        selector = selectors.DefaultSelector()
        for stream, pipe in ((1, self._process.stdout), (2, self._process.stderr)):
            os.set_blocking(pipe.fileno(), False)
            selector.register(pipe.fileno(), selectors.EVENT_READ, stream)
        exited_at = None
        last_read = 0.0
        try:
            while selector.get_map():
                now = time.monotonic()
                self._supervise(now)
                if exited_at is None and self._has_exited():
                    exited_at = now
                if exited_at is not None and now - exited_at >= EXIT_DRAIN_SECONDS:
                    self._result.output_left_open = True
                    break
                if self._read_bytes >= MAX_BUFFERED:
                    with self._condition:
                        self._condition.wait(TICK)
                    continue
                gather = False
                for key, _events in selector.select(self._next_timeout(now)):
                    try:
                        data = os.read(key.fd, READ_BYTES)
                    except BlockingIOError:
                        continue
                    if not data:
                        selector.unregister(key.fd)
                        continue
                    self._hand_over(key.data, data)
                    read_at = time.monotonic()
                    gather = gather or (
                        (len(data) >= GATHER_MIN_BYTES or read_at - last_read < BURST)
                        and len(data) < GATHER_MAX_BYTES
                    )
                    last_read = read_at
                if gather:
                    # Output is pouring in: let it gather in the pipe rather
                    # than reading it a few KiB at a time.  Output that comes
                    # line by line is read at once, keeping the order of
                    # stdout and stderr lines.
                    time.sleep(GATHER_SECONDS)
        finally:
            selector.close()

    def _wait_for_exit(self) -> None:
        delay = 0.001
        while not self._has_exited():
            now = time.monotonic()
            self._supervise(now)
            time.sleep(min(delay, self._next_timeout(now)))
            delay = min(delay * 2, TICK)
        if self._result.stop_reason is not None:
            # Processes the job left in its group are stopped with it.
            self._signal(signal.SIGKILL)

    def _hand_over(self, stream: int, data: bytes) -> None:
        with self._condition:
            if not self._reads:
                self._first_read_at = time.monotonic()
            self._reads.append((stream, time.time(), data))
            self._read_bytes += len(data)
            if len(self._reads) == 1 or self._read_bytes >= WAKE_BYTES:
                self._condition.notify_all()

    def _supervise(self, now: float) -> None:
        if self._result.stop_reason is None:
            if self._deadline is not None and now >= self._deadline:
                reason = TIMED_OUT
            else:
                reason = self._stop_request
            if reason is not None:
                self._result.stop_reason = reason
                self._kill_at = now + self.kill_grace_period
                self._signal(signal.SIGTERM)
        elif self._kill_at is not None and now >= self._kill_at:
            self._kill_at = None
            if not self._has_exited():
                self._result.kill_sent = True
                self._signal(signal.SIGKILL)

    def _next_timeout(self, now: float) -> float:
        timeout = TICK
        for moment in (self._deadline, self._kill_at):
            if moment is not None:
                timeout = min(timeout, moment - now)
        return max(timeout, 0.0)

    def _has_exited(self) -> bool:
        # WNOWAIT leaves the process a zombie: its pid, the group's id,
        # cannot be reused before the final wait().
        try:
            info = os.waitid(os.P_PID, self.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
        except ChildProcessError:
            return True
        return info is not None

    def _signal(self, signum: int) -> None:
        try:
            os.killpg(self.pid, signum)
        except ProcessLookupError:
            pass
        except PermissionError:
            logger.warning(
                "Cannot signal the job's process group: pid=%s signal=%s",
                self.pid,
                signal.Signals(signum).name,
            )


def _enlarge_pipe(fd: int) -> None:
    """Let a pipe hold 1 MiB, so a job seldom waits while a read is stored."""
    set_size = getattr(fcntl, "F_SETPIPE_SZ", None)
    if set_size is None:
        return
    with contextlib.suppress(OSError):
        fcntl.fcntl(fd, set_size, PIPE_BYTES)
