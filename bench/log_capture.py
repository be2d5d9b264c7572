"""
Benchmark the executor's output capture.

A Python job prints 1,000,000 lines of 60 bytes as fast as it can, with its
output redirected to a file and under batchrun's executor, alternately, five
times each.  For each database it prints the medians of:

- the job's own running time, measured by the job from its first to its
  last statement, under batchrun and with its output to a file;
- the CPU time of the job's process in both cases, and of the executor;
- the time from the start of ``execute_job_run`` to the run recorded as
  finished with all its output stored, and the lines per second that makes.

Each database is a fresh one of the benchmark's own (a SQLite file under
/tmp, ``batchrun_bench_d`` on PostgreSQL and MariaDB), so it can run beside
the test suite.  Usage::

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
    import django
    from django.conf import settings

    if database == "sqlite":
        path = Path(tempfile.gettempdir()) / "batchrun-bench-d.sqlite3"
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        db = {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": path,
            "OPTIONS": {
                "transaction_mode": "IMMEDIATE",
                "timeout": 20,
                "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
            },
        }
    elif database == "postgresql":
        subprocess.run(
            ["dropdb", "-h", "127.0.0.1", "-U", "postgres", "--if-exists", DB_NAME],
            check=True,
        )
        subprocess.run(
            ["createdb", "-h", "127.0.0.1", "-U", "postgres", DB_NAME],
            check=True,
        )
        db = {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": DB_NAME,
            "HOST": "127.0.0.1",
            "USER": "postgres",
        }
    else:
        sql = (
            f"DROP DATABASE IF EXISTS {DB_NAME}; CREATE DATABASE {DB_NAME} "
            "CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"
        )
        subprocess.run(["mariadb", "-uroot", "-h127.0.0.1", "-e", sql], check=True)
        db = {
            "ENGINE": "django.db.backends.mysql",
            "NAME": DB_NAME,
            "HOST": "127.0.0.1",
            "USER": "root",
            "OPTIONS": {"charset": "utf8mb4"},
        }
    settings.configure(
        DATABASES={"default": db},
        INSTALLED_APPS=["django.contrib.contenttypes", "batchrun"],
        USE_TZ=True,
        TIME_ZONE="UTC",
        DEFAULT_AUTO_FIELD="django.db.models.BigAutoField",
    )
    django.setup()
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


def time_to_file(code: str, report: str) -> Timing:
    """Run the job with its output redirected to a file."""
    with tempfile.TemporaryFile() as output:
        cpu = children_cpu()
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", code, report], stdout=output, check=True)
        total = time.perf_counter() - start
    job = float(Path(report).read_text())
    return Timing(job, children_cpu() - cpu, total)


def time_under_batchrun(code: str, report: str) -> Timing:
    """Run the job under the executor, as a detached executor does."""
    from batchrun.job_running import execute_job_run
    from batchrun.models import Command, Job, JobRun

    command, _ = Command.objects.get_or_create(
        name=sys.executable, parameter_format_string="-c {code} {report}"
    )
    job, _ = Job.objects.update_or_create(name="bench", defaults={"command": command})
    job.arguments = {"code": code, "report": report}
    job.save()
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
    return Timing(float(Path(report).read_text()), job_cpu, total, executor_cpu)


def median(timings: list[Timing], name: str) -> float:
    return statistics.median(getattr(timing, name) for timing in timings)


def bench(database: str, code: str, report: str) -> None:
    configure(database)
    to_file, under_batchrun = [], []
    # Alternate, so that both see the same machine load.
    for _ in range(REPEAT):
        to_file.append(time_to_file(code, report))
        under_batchrun.append(time_under_batchrun(code, report))
    file_job, job = median(to_file, "job"), median(under_batchrun, "job")
    total = median(under_batchrun, "total")
    print(
        f"{database}: job {job:.2f} s under batchrun, {file_job:.2f} s to a file "
        f"({job / file_job:.2f} x); job CPU {median(under_batchrun, 'job_cpu'):.2f}"
        f" s vs {median(to_file, 'job_cpu'):.2f} s; executor CPU "
        f"{median(under_batchrun, 'executor_cpu'):.2f} s; run recorded in "
        f"{total:.2f} s = {LINES / total:,.0f} lines/s",
        flush=True,
    )


def main(databases: list[str]) -> None:
    code = JOB.format(lines=LINES)
    report = os.path.join(tempfile.mkdtemp(), "job-time")
    print(f"{LINES:,} lines of 60 bytes, medians of {REPEAT} runs", flush=True)
    for database in databases:
        pid = os.fork()
        if pid == 0:
            # A child per database: Django is configured once per process.
            try:
                bench(database, code, report)
            finally:
                os._exit(0)
        os.waitpid(pid, 0)


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    main(sys.argv[1:] or ["sqlite", "postgresql"])
