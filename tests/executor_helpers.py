"""Build runs of real jobs and read their stored output back, for executor tests."""

import contextlib
import datetime
import os
import signal
import sys
import time

from django.utils import timezone

from batchrun.models import Command, Job, JobRun, LogChunk
from batchrun.output_chunks import count_lines
from batchrun.output_text import decode_output

STDOUT = LogChunk.Stream.STDOUT
STDERR = LogChunk.Stream.STDERR


def make_run(
    name: str,
    format_string: str = "",
    arguments: dict | None = None,
    *,
    command_type: str = Command.Type.EXECUTABLE,
    timeout: datetime.timedelta | None = None,
    **fields,
) -> JobRun:
    """Create a job and a claimed run of it, as a scheduler leaves it."""
    command = Command.objects.create(
        type=command_type, name=name, parameter_format_string=format_string
    )
    job = Job.objects.create(
        name=f"job {Job.objects.count() + 1}",
        command=command,
        arguments=arguments or {},
        timeout=timeout,
    )
    fields.setdefault("heartbeat_at", timezone.now())
    return JobRun.objects.create(job=job, **fields)


def python_run(code: str, *args: str, **kwargs) -> JobRun:
    """Create a run of ``python -c code args...``."""
    names = [f"a{number}" for number in range(len(args))]
    format_string = " ".join(["-c {code}", *(f"{{{n}}}" for n in names)])
    arguments = {"code": code, **dict(zip(names, args, strict=True))}
    return make_run(sys.executable, format_string, arguments, **kwargs)


def stored_output(run: JobRun, stream: int | None = None) -> bytes:
    """Return the bytes of a run's stored output, of one stream or both."""
    chunks = LogChunk.objects.filter(run=run).order_by("seq")
    if stream is not None:
        chunks = chunks.filter(stream=stream)
    return b"".join(decode_output(c.text, c.escaped) for c in chunks.iterator())


def check_chunks(run: JobRun) -> list[LogChunk]:
    """Assert that a run's chunks are numbered without gaps; return them."""
    chunks = list(LogChunk.objects.filter(run=run).order_by("seq"))
    next_line = 1
    for seq, chunk in enumerate(chunks):
        data = decode_output(chunk.text, chunk.escaped)
        assert chunk.seq == seq
        assert chunk.first_line == next_line
        assert chunk.line_count == count_lines(data)
        assert 0 < len(data) <= 1024 * 1024
        next_line += chunk.line_count
    assert run.stdout_lines + run.stderr_lines == next_line - 1
    assert [c.time for c in chunks] == sorted(c.time for c in chunks)
    return chunks


def wait_for(predicate, timeout: float = 10.0, interval: float = 0.05):
    """Return predicate()'s first true value, polling for up to timeout seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(interval)


def kill_group(pid: int | None) -> None:
    """Kill a job's process group left running by a test."""
    if pid:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGKILL)
