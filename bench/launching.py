"""
Benchmark how soon the scheduler starts jobs that fall due.

Each job is ``bash -c`` writing ``$EPOCHREALTIME`` to a file of its own, so
the figures say when each job's own process really began, not when rows
were written.  For each database it prints:

- 100 occurrences due at the same instant (100 scheduled jobs, every
  minute), a few times: the largest and the median delay from the due time
  to each job's start (goal: all within 2 s);
- a single due occurrence, 20 times: the median and the largest delay
  (goal: under 50 ms at the median);
- the CPU time that an idle scheduler (100 schedules, none due) uses over
  30 s, as a share of one core (goal: under 0.5 %).

Every trial starts a fresh ``batchrun_scheduler`` equivalent (this script
with ``--scheduler``) whose clock runs a constant offset ahead, so that the
next whole minute, when the occurrences are due, comes a few seconds after
it has started instead of up to a minute later.  The scheduler only ever
sees its own clock; the offset moves the due instant without changing any
delay.  Each database is a fresh one of the benchmark's own,
``batchrun_bench_s`` (see ``bench_databases.py``), dropped at the end.
``BATCHRUN_BENCH_DEBUG=1`` makes the schedulers log every pass and fork to
stderr.  Usage::

    .venv/bin/python bench/launching.py [sqlite] [postgresql] [mariadb]
"""

import datetime
import logging
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench_databases import BenchDatabase, run_on_each

ROOT = Path(__file__).resolve().parent.parent
DB_NAME = "batchrun_bench_s"
BURST_SIZE = 100
BURST_TRIALS = 3
SINGLE_TRIALS = 20
IDLE_SECONDS = 30.0
# Between the start of a trial's scheduler and the due instant: time to set
# Django up and do a first pass.
LEAD = 3.0
JOB_SCRIPT = 'printf %s "$EPOCHREALTIME" > "$1"'
OFFSET_VARIABLE = "BATCHRUN_BENCH_CLOCK_OFFSET"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def configure(database: str) -> None:
    BenchDatabase(database, DB_NAME).configure_django()


def run_scheduler(database: str) -> None:
    """Run the scheduler loop with its clock shifted; stop on SIGTERM."""
    configure(database)
    if os.environ.get("BATCHRUN_BENCH_DEBUG") == "1":
        logging.basicConfig(
            level=logging.DEBUG, format="%(asctime)s %(name)s: %(message)s"
        )
    from django.utils import timezone

    from batchrun.scheduler import Scheduler

    offset = datetime.timedelta(seconds=float(os.environ.get(OFFSET_VARIABLE, "0")))
    real_now = timezone.now
    timezone.now = lambda: real_now() + offset
    scheduler = Scheduler()
    signal.signal(signal.SIGTERM, lambda signum, frame: scheduler.stop())
    signal.set_wakeup_fd(scheduler.wakeup_fd, warn_on_full_buffer=False)
    scheduler.run_forever()


class Bench:
    def __init__(self, database: str, output_dir: Path) -> None:
        self.database = database
        self.output_dir = output_dir
        self.due = datetime.datetime.now(datetime.UTC).replace(second=0, microsecond=0)
        self.schedules = []

    def create_jobs(self) -> None:
        from batchrun.models import Command, Job, ScheduledJob

        command = Command.objects.create(
            name="/bin/bash", parameter_format_string="-c {script} bench {path}"
        )
        for number in range(BURST_SIZE):
            job = Job.objects.create(
                name=f"bench {number}",
                command=command,
                arguments={
                    "script": JOB_SCRIPT,
                    "path": str(self.output_dir / str(number)),
                },
            )
            self.schedules.append(
                ScheduledJob.objects.create(job=job, timezone="UTC", enabled=False)
            )

    def trial(self, count: int) -> list[float]:
        """Start a scheduler, make count jobs due; return their delays."""
        from batchrun.models import ScheduledJob

        for path in self.output_dir.iterdir():
            path.unlink()
        # A minute later than the last trial's, so no occurrence repeats.
        self.due += datetime.timedelta(minutes=1)
        due_real = time.time() + LEAD
        offset = self.due.timestamp() - due_real
        ids = [schedule.pk for schedule in self.schedules[:count]]
        ScheduledJob.objects.update(enabled=False)
        # An update, not save(): save() would set active_since to now.
        ScheduledJob.objects.filter(pk__in=ids).update(
            enabled=True,
            minutes="*",
            hours="*",
            active_since=self.due - datetime.timedelta(seconds=1),
        )
        scheduler = self.start_scheduler(offset)
        try:
            starts = self.wait_for_jobs(count, due_real + 30)
        finally:
            self.stop_scheduler(scheduler)
        return [start - due_real for start in starts]

    def start_scheduler(self, offset: float) -> subprocess.Popen:
        return subprocess.Popen(
            [sys.executable, __file__, "--scheduler", self.database],
            env={**os.environ, OFFSET_VARIABLE: repr(offset)},
            stdin=subprocess.DEVNULL,
        )

    def stop_scheduler(self, scheduler: subprocess.Popen) -> None:
        scheduler.terminate()
        if scheduler.wait(timeout=30) != 0:
            print(f"The scheduler exited with status {scheduler.returncode}.")

    def wait_for_jobs(self, count: int, deadline: float) -> list[float]:
        while True:
            starts = []
            for path in self.output_dir.iterdir():
                text = path.read_text()
                if text:
                    starts.append(float(text))
            if len(starts) == count or time.time() > deadline:
                if len(starts) < count:
                    print(f"Only {len(starts)} of {count} jobs started in time.")
                return starts
            time.sleep(0.05)

    def measure_idle(self) -> tuple[float, float]:
        """Return the idle scheduler's CPU seconds and its share of a core."""
        from batchrun.models import ScheduledJob

        hour = (datetime.datetime.now(datetime.UTC).hour + 12) % 24
        ScheduledJob.objects.update(enabled=True, hours=str(hour), minutes="0")
        scheduler = self.start_scheduler(0.0)
        try:
            time.sleep(LEAD)
            cpu, start = process_cpu(scheduler.pid), time.monotonic()
            time.sleep(IDLE_SECONDS)
            used, elapsed = process_cpu(scheduler.pid) - cpu, time.monotonic() - start
        finally:
            self.stop_scheduler(scheduler)
        return used, used / elapsed


def process_cpu(pid: int) -> float:
    """Return a process's user and system CPU seconds from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def milliseconds(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms"


def bench(database: str) -> None:
    configure(database)
    from django.core.management import call_command
    from django.db import connections

    call_command("migrate", verbosity=0)
    bench = Bench(database, Path(tempfile.mkdtemp(prefix="batchrun-bench-s-")))
    bench.create_jobs()
    connections.close_all()
    for _ in range(BURST_TRIALS):
        delays = bench.trial(BURST_SIZE)
        print(
            f"{database}: {len(delays)} due at once: largest delay "
            f"{milliseconds(max(delays))}, median {milliseconds(median(delays))}",
            flush=True,
        )
    singles = [min(bench.trial(1), default=float("inf")) for _ in range(SINGLE_TRIALS)]
    print(
        f"{database}: a single occurrence, {SINGLE_TRIALS} times: median delay "
        f"{milliseconds(median(singles))}, largest {milliseconds(max(singles))}",
        flush=True,
    )
    used, share = bench.measure_idle()
    print(
        f"{database}: idle scheduler: {used:.2f} s of CPU in {IDLE_SECONDS:.0f} s "
        f"= {share:.2%} of one core",
        flush=True,
    )
    connections.close_all()
    shutil.rmtree(bench.output_dir)


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("inf")


def main(databases: list[str]) -> int:
    return run_on_each(databases, DB_NAME, bench)


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    if sys.argv[1:2] == ["--scheduler"]:
        run_scheduler(sys.argv[2])
    else:
        sys.exit(main(sys.argv[1:] or ["sqlite", "postgresql"]))
