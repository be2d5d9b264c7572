"""Helpers for the tests that launch real executors and schedulers."""

import os
import sys
import time

from batchrun.models import Command, Job, JobRun, LogChunk
from batchrun.output_text import decode_output


def wait_for(predicate, timeout: float, interval: float = 0.1, message: str = ""):
    """Return predicate()'s first true value, or fail after timeout seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(message or f"Timed out after {timeout} s.")
        time.sleep(interval)


def wait_for_end(run: JobRun, timeout: float = 30) -> JobRun:
    """Wait until a run is no longer running and return it reloaded."""

    def ended():
        run.refresh_from_db()
        return run.status != JobRun.Status.RUNNING

    wait_for(ended, timeout, message=f"Run {run.pk} still running.")
    return run


def get_output(run: JobRun, stream: int) -> bytes:
    """Return what a run printed on one stream, from its stored chunks."""
    chunks = LogChunk.objects.filter(run=run, stream=stream).order_by("seq")
    return b"".join(decode_output(chunk.text, chunk.escaped) for chunk in chunks)


def make_python_job(name: str, code: str, **fields) -> Job:
    """Return a job that runs a Python snippet with this interpreter."""
    command, _ = Command.objects.get_or_create(
        name=sys.executable, parameter_format_string="-c {code}"
    )
    return Job.objects.create(
        name=name, command=command, arguments={"code": code}, **fields
    )


def make_shell_job(name: str, script: str, **fields) -> Job:
    """Return a job that runs a shell script (passed as an argument, no shell)."""
    command, _ = Command.objects.get_or_create(
        name="/bin/sh", parameter_format_string="-c {script}"
    )
    return Job.objects.create(
        name=name, command=command, arguments={"script": script}, **fields
    )


def process_exists(pid: int) -> bool:
    """Tell whether a process (not a zombie) with this pid exists."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            state = stat.read().rpartition(")")[2].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


def read_proc_status(pid: int) -> dict[str, str]:
    """Return the fields of /proc/PID/status."""
    with open(f"/proc/{pid}/status") as status:
        return dict(line.rstrip("\n").split(":\t", 1) for line in status)


def ancestors_of(pid: int) -> list[int]:
    """Return the parent chain of a process, nearest first."""
    chain = []
    while pid > 1:
        pid = int(read_proc_status(pid)["PPid"])
        chain.append(pid)
    return chain


def fd_target(pid: int, fd: int) -> str:
    return os.readlink(f"/proc/{pid}/fd/{fd}")
