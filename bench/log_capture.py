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

Each database is a fresh one of the benchmark's own (a SQLite file under
/tmp, ``batchrun_bench_d`` on PostgreSQL and MariaDB), deleted again at the
end, so it can run beside the test suite.  A database whose server cannot
be reached is skipped with a message.  The servers' addresses follow the
test suite's ``BATCHRUN_TEST_PG_*`` and ``BATCHRUN_TEST_MARIADB_*``
variables.  Usage::

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
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DB_NAME = "batchrun_bench_d"
SQLITE_PATH = Path(tempfile.gettempdir()) / "batchrun-bench-d.sqlite3"
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


def server(database: str) -> dict[str, str]:
    """Return the address and credentials of a database server."""
    prefix, defaults = {
        "postgresql": ("BATCHRUN_TEST_PG", ("5432", "postgres")),
        "mariadb": ("BATCHRUN_TEST_MARIADB", ("3306", "root")),
    }[database]
    return {
        "HOST": os.environ.get(f"{prefix}_HOST", "127.0.0.1"),
        "PORT": os.environ.get(f"{prefix}_PORT", defaults[0]),
        "USER": os.environ.get(f"{prefix}_USER", defaults[1]),
        "PASSWORD": os.environ.get(f"{prefix}_PASSWORD", ""),
    }


def run_admin_sql(database: str, *statements: str) -> None:
    """Run statements on a server outside any database, in autocommit."""
    address = server(database)
    if database == "postgresql":
        import psycopg

        with psycopg.connect(
            host=address["HOST"],
            port=address["PORT"],
            user=address["USER"],
            password=address["PASSWORD"],
            dbname="postgres",
            autocommit=True,
            connect_timeout=5,
        ) as connection:
            for statement in statements:
                connection.execute(statement)
        return
    import MySQLdb

    connection = MySQLdb.connect(
        host=address["HOST"],
        port=int(address["PORT"]),
        user=address["USER"],
        password=address["PASSWORD"],
        connect_timeout=5,
    )
    try:
        cursor = connection.cursor()
        for statement in statements:
            cursor.execute(statement)
    finally:
        connection.close()


def drop_database(database: str) -> None:
    if database == "sqlite":
        for suffix in ("", "-wal", "-shm"):
            Path(f"{SQLITE_PATH}{suffix}").unlink(missing_ok=True)
    elif database == "postgresql":
        run_admin_sql(database, f"DROP DATABASE IF EXISTS {DB_NAME} WITH (FORCE)")
    else:
        run_admin_sql(database, f"DROP DATABASE IF EXISTS {DB_NAME}")


def create_database(database: str) -> str:
    """Create a fresh benchmark database; return why not, or ''."""
    try:
        drop_database(database)
        if database == "postgresql":
            run_admin_sql(database, f"CREATE DATABASE {DB_NAME}")
        elif database == "mariadb":
            run_admin_sql(
                database,
                f"CREATE DATABASE {DB_NAME} CHARACTER SET utf8mb4 "
                "COLLATE utf8mb4_unicode_ci",
            )
    except ImportError as error:
        return f"its driver is not installed ({error})"
    except Exception as error:
        # psycopg and MySQLdb raise their own OperationalError classes.
        reason = str(error).strip().splitlines()[0]
        return f"its server cannot be reached ({reason})"
    return ""


def configure(database: str) -> None:
    import django
    from django.conf import settings

    if database == "sqlite":
        db = {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": SQLITE_PATH,
            "OPTIONS": {
                "transaction_mode": "IMMEDIATE",
                "timeout": 20,
                "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
            },
        }
    elif database == "postgresql":
        db = {"ENGINE": "django.db.backends.postgresql", **server(database)}
    else:
        db = {
            "ENGINE": "django.db.backends.mysql",
            **server(database),
            "OPTIONS": {"charset": "utf8mb4"},
        }
    db.setdefault("NAME", DB_NAME)
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


def bench_in_child(database: str, code: str, report: str, lines_file: str) -> bool:
    """Run bench in a child process (Django is configured once per process)."""
    pid = os.fork()
    if pid == 0:
        status = 0
        try:
            bench(database, code, report, lines_file)
        except BaseException:
            traceback.print_exc()
            status = 1
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(status)
    _pid, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status) == 0


def main(databases: list[str]) -> int:
    unknown = set(databases) - {"sqlite", "postgresql", "mariadb"}
    if unknown:
        print(f"Unknown databases: {', '.join(sorted(unknown))}", file=sys.stderr)
        return 2
    code = JOB.format(lines=LINES)
    print(f"{LINES:,} lines of 60 bytes, medians of {REPEAT} runs", flush=True)
    failed = False
    with tempfile.TemporaryDirectory() as directory:
        report = os.path.join(directory, "job-time")
        lines_file = os.path.join(directory, "lines.txt")
        with open(lines_file, "w") as lines:
            lines.writelines(f"{number:09d} {'x' * 49}\n" for number in range(LINES))
        for database in databases:
            reason = create_database(database)
            if reason:
                print(f"{database}: skipped, {reason}", flush=True)
                continue
            try:
                failed |= not bench_in_child(database, code, report, lines_file)
            finally:
                drop_database(database)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    sys.exit(main(sys.argv[1:] or ["sqlite", "postgresql"]))
