"""
Benchmark the executor's output capture.

A Python job prints 1,000,000 lines of 60 bytes as fast as it can, with its
output redirected to a file and under batchrun's executor, alternately, five
times each.  For each database it prints the medians of:

- the job's own running time, measured by the job from its first to its
  last statement, under batchrun and with its output to a file;
- the CPU time of the job's process in both cases, and of the executor;
- the time from the start of ``execute_job_run`` to the run recorded as
  finished with all its output stored, the lines per second that makes,
  and how much of it came after the job's own running time;
- the same for ``cat`` printing the same lines from a file, a job that
  prints far faster than Python can, to show what the capture itself
  manages;

and the peak memory (maximum resident set size) of the process that ran
the executor, Django included.

Each database is a fresh one of the benchmark's own, ``batchrun_bench_d``
(see ``bench_databases.py``), deleted again at the end.  A database whose
server cannot be reached is skipped with a message.  Usage::

    .venv/bin/python bench/log_capture.py [sqlite] [postgresql] [mariadb]
"""

import dataclasses
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench_databases import BenchDatabase, run_on_each

ROOT = Path(__file__).resolve().parent.parent
DB_NAME = "batchrun_bench_d"
LINES = 1_000_000
REPEAT = 5
JOB = """\
import sys, time
start = time.perf_counter()
for number in range({lines}):
    print(f"{{number:09d}} {{'x' * 49}}")
sys.stdout.flush()
with open(sys.argv[1], "w") as report:
    report.write(str(time.perf_counter() - start))
"""


def configure(database: str) -> None:
    BenchDatabase(database, DB_NAME).configure_django()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


@dataclasses.dataclass
class Timing:
    job: float  # the job's own time, first to last statement
    job_cpu: float  # the job process's CPU time, user and system
    total: float  # the whole run: start to output stored and end recorded
    executor_cpu: float = 0.0


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def own_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def peak_memory_mib() -> float:
    # Linux gives ru_maxrss in KiB.
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def time_to_file(code: str, report: str) -> Timing:
    """Run the job with its output redirected to a file."""
    with tempfile.TemporaryFile() as output:
        cpu = children_cpu()
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", code, report], stdout=output, check=True)
        total = time.perf_counter() - start
    job = float(Path(report).read_text())
    return Timing(job, children_cpu() - cpu, total)


def time_under_batchrun(program: str, parameters: str, arguments: dict) -> Timing:
    """Run a job under the executor, as a detached executor does."""
    from batchrun.job_running import execute_job_run
    from batchrun.models import Command, Job, JobRun

    command, _ = Command.objects.get_or_create(
        name=program, parameter_format_string=parameters
    )
    job, _ = Job.objects.update_or_create(
        name=f"bench {program}",
        defaults={"command": command, "arguments": arguments},
    )
    run = JobRun.objects.create(job=job)
    cpu, job_cpu = own_cpu(), children_cpu()
    start = time.perf_counter()
    execute_job_run(run)
    total = time.perf_counter() - start
    executor_cpu, job_cpu = own_cpu() - cpu, children_cpu() - job_cpu
    run = JobRun.objects.get(pk=run.pk)
    assert run.status == JobRun.Status.SUCCEEDED, run.message
    assert run.stdout_lines == LINES, run.stdout_lines
    assert run.output_bytes == 60 * LINES, run.output_bytes
    report = arguments.get("report")
    job_time = float(Path(report).read_text()) if report else total
    return Timing(job_time, job_cpu, total, executor_cpu)


def median(timings: list[Timing], name: str) -> float:
    return statistics.median(getattr(timing, name) for timing in timings)


def bench(database: str, code: str, report: str, lines_file: str) -> None:
    configure(database)
    idle_memory = peak_memory_mib()
    python_job = {"code": code, "report": report}
    to_file, under_batchrun, cat = [], [], []
    # Alternate, so that both see the same machine load.
    for _ in range(REPEAT):
        to_file.append(time_to_file(code, report))
        under_batchrun.append(
            time_under_batchrun(sys.executable, "-c {code} {report}", python_job)
        )
        cat.append(time_under_batchrun("cat", "{path}", {"path": lines_file}))
    file_job, job = median(to_file, "job"), median(under_batchrun, "job")
    total = median(under_batchrun, "total")
    after = statistics.median(t.total - t.job for t in under_batchrun)
    cat_total = median(cat, "total")
    print(
        f"{database}: Python job {job:.2f} s under batchrun, {file_job:.2f} s to a "
        f"file ({job / file_job:.2f} x); job CPU "
        f"{median(under_batchrun, 'job_cpu'):.2f} s vs "
        f"{median(to_file, 'job_cpu'):.2f} s; executor CPU "
        f"{median(under_batchrun, 'executor_cpu'):.2f} s; run recorded in "
        f"{total:.2f} s = {LINES / total:,.0f} lines/s, {after:.2f} s more than "
        f"the job's own time\n"
        f"{database}: cat of the same lines: run recorded in {cat_total:.2f} s = "
        f"{LINES / cat_total:,.0f} lines/s; executor CPU "
        f"{median(cat, 'executor_cpu'):.2f} s\n"
        f"{database}: peak memory of the executor's process {peak_memory_mib():.0f}"
        f" MiB ({idle_memory:.0f} MiB before the first run)",
        flush=True,
    )


def main(databases: list[str]) -> int:
    code = JOB.format(lines=LINES)
    print(f"{LINES:,} lines of 60 bytes, medians of {REPEAT} runs", flush=True)
    with tempfile.TemporaryDirectory() as directory:
        report = os.path.join(directory, "job-time")
        lines_file = os.path.join(directory, "lines.txt")
        with open(lines_file, "w") as lines:
            lines.writelines(f"{number:09d} {'x' * 49}\n" for number in range(LINES))
        return run_on_each(
            databases,
            DB_NAME,
            lambda database: bench(database, code, report, lines_file),
        )


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    sys.exit(main(sys.argv[1:] or ["sqlite", "postgresql"]))
