"""
Benchmark the JSON API on a large history.

The benchmark fills a database of its own with 1,000,000 runs and
10,000,000 output lines: every run has one chunk of 9 lines, and one long
run has 1,000,000 lines in chunks of 50.  It then times requests through
Django's test client, as a logged-in user with the view permission (so
session, user and permission queries are included), and prints the median
and 95th percentile of:

- the first page of 50 runs and the page of 50 runs at depth 20,000,
  reached by following ``next`` links;
- the same two pages filtered by job;
- a page of 1,000 output lines of the long run, at its start and in its
  middle (line 500,000);
- for scale, the OFFSET query at depth 20,000 and a ``count(*)`` of the
  runs, which no page of the API runs.

The database is ``batchrun_bench_e`` (see ``bench_databases.py``); a
filled database is reused when its run count is right (``--refill`` fills
it again).  Usage::

    .venv/bin/python bench/api.py [sqlite] [postgresql] [--refill]
"""

import os
import statistics
import sys
import time
from pathlib import Path

from bench_databases import BenchDatabase, run_in_child

ROOT = Path(__file__).resolve().parent.parent
RUNS = int(os.environ.get("BENCH_RUNS", 1_000_000))
SMALL_RUN_LINES = 9
LONG_RUN_LINES = int(os.environ.get("BENCH_LONG_RUN_LINES", 1_000_000))
LONG_RUN_CHUNK_LINES = 50
JOBS = 100
REPEAT = 60
DEPTH = 20_000
JOB_DEPTH = min(5_000, RUNS // JOBS // 1000 * 500)
DB_NAME = "batchrun_bench_e"
LINE = "2024-05-01 12:00:00 INFO processed invoice batch of the month"


def configure(database: str) -> None:
    import django
    from django.conf import settings

    bench_database = BenchDatabase(database, DB_NAME)
    reason = bench_database.create(keep_existing=True)
    if reason:
        sys.exit(f"{database}: {reason}")
    settings.configure(
        SECRET_KEY="batchrun-bench",
        USE_TZ=True,
        TIME_ZONE="Europe/Helsinki",
        ALLOWED_HOSTS=["*"],
        ROOT_URLCONF="tests.urls",
        DEFAULT_AUTO_FIELD="django.db.models.BigAutoField",
        INSTALLED_APPS=[
            "django.contrib.admin",
            "django.contrib.auth",
            "django.contrib.contenttypes",
            "django.contrib.sessions",
            "django.contrib.messages",
            "batchrun",
        ],
        MIDDLEWARE=[
            "django.contrib.sessions.middleware.SessionMiddleware",
            "django.middleware.common.CommonMiddleware",
            "django.contrib.auth.middleware.AuthenticationMiddleware",
            "django.contrib.messages.middleware.MessageMiddleware",
        ],
        DATABASES={"default": bench_database.get_settings()},
    )
    django.setup()


def lines_sql(vendor: str, count: int, number: str) -> str:
    """Return SQL for a chunk text of ``count`` lines that name a number."""
    line = f"'{LINE} ' || {number} || "
    if vendor == "postgresql":
        return f"repeat({line}E'\\n', {count})"
    return " || ".join([f"{line}char(10)"] * count)


def numbers(vendor: str, count: int) -> tuple[str, str]:
    """Return a statement prefix and a FROM source of integers 1..count."""
    if vendor == "postgresql":
        return "", f"generate_series(1, {count}) AS s(i)"
    return (
        "WITH RECURSIVE s(i) AS "
        f"(SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < {count}) ",
        "s",
    )


def fill(vendor: str) -> None:
    from django.contrib.auth.models import Permission, User
    from django.core.management import call_command
    from django.db import connection, transaction

    from batchrun.models import Command, Job

    started = time.perf_counter()
    call_command("migrate", verbosity=0)
    user = User.objects.create_user("bench")
    user.user_permissions.add(Permission.objects.get(codename="view_jobrun"))
    command = Command.objects.create(
        name="send_invoices", parameter_format_string="--month {month}"
    )
    Job.objects.bulk_create(
        Job(name=f"job-{number}", command=command, arguments={"month": number})
        for number in range(JOBS)
    )
    first_job = Job.objects.order_by("pk").first().pk

    if vendor == "postgresql":
        created = "TIMESTAMPTZ '2020-01-01 00:00:00+00' + {} * INTERVAL '30 seconds'"
        plus = "{} + INTERVAL '{} seconds'"
    else:
        created = (
            "strftime('%Y-%m-%d %H:%M:%S', '2020-01-01', '+' || ({} * 30) "
            "|| ' seconds')"
        )
        plus = "strftime('%Y-%m-%d %H:%M:%S', {}, '+{} seconds')"
    long_run_created = created.format(RUNS)
    created = created.format("i")
    status = (
        "CASE WHEN i % 100 = 7 THEN 'failed' WHEN i % 100 = 13 THEN 'skipped' "
        "WHEN i % 1000 = 17 THEN 'lost' ELSE 'succeeded' END"
    )
    never = "CASE WHEN i % 100 = 13 THEN NULL ELSE {} END"
    prefix, source = numbers(vendor, RUNS)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            f"{prefix}INSERT INTO batchrun_jobrun (job_id, trigger, status, "
            "created_at, host, pid, started_at, stopped_at, exit_code, "
            "command_line, message, stdout_lines, stderr_lines, output_bytes, "
            "dropped_bytes) "
            f"SELECT {first_job} + i % {JOBS}, 'schedule', {status}, {created}, "
            "'worker-1', i % 30000 + 100, "
            f"{never.format(plus.format(created, 1))}, "
            f"{never.format(plus.format(created, 9))}, "
            f"{never.format('CASE WHEN i % 100 = 7 THEN 1 ELSE 0 END')}, "
            '\'["send_invoices", "--month", "5"]\', \'\', '
            f"{SMALL_RUN_LINES}, 0, 600, 0 FROM {source}"
        )
        cursor.execute("SELECT min(id), max(id) FROM batchrun_jobrun")
        low, long_run = cursor.fetchone()
        cursor.execute(
            f"{prefix}INSERT INTO batchrun_logchunk (run_id, seq, stream, time, "
            "first_line, line_count, escaped, text) "
            f"SELECT {low} - 1 + i, 0, 1, {plus.format(created, 2)}, 1, "
            f"{SMALL_RUN_LINES}, false, "
            f"{lines_sql(vendor, SMALL_RUN_LINES, 'i')} FROM {source} "
            f"WHERE {low} - 1 + i < {long_run}"
        )
        # The newest run is the long one.
        chunks = LONG_RUN_LINES // LONG_RUN_CHUNK_LINES
        prefix, source = numbers(vendor, chunks)
        cursor.execute(
            f"UPDATE batchrun_jobrun SET stdout_lines = {LONG_RUN_LINES} "
            f"WHERE id = {long_run}"
        )
        cursor.execute(
            f"{prefix}INSERT INTO batchrun_logchunk (run_id, seq, stream, time, "
            "first_line, line_count, escaped, text) "
            f"SELECT {long_run}, i - 1, 1, "
            f"{plus.format(long_run_created, 2)}, "
            f"(i - 1) * {LONG_RUN_CHUNK_LINES} + 1, {LONG_RUN_CHUNK_LINES}, false, "
            f"{lines_sql(vendor, LONG_RUN_CHUNK_LINES, 'i')} FROM {source}"
        )
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE" if vendor == "postgresql" else "ANALYZE")
    print(f"  filled in {time.perf_counter() - started:.0f} s", flush=True)


def is_filled() -> bool:
    from django.db import connection

    from batchrun.models import JobRun

    if "batchrun_jobrun" not in connection.introspection.table_names():
        return False
    return JobRun.objects.count() == RUNS


def measure(functions: dict, repeat: int = REPEAT) -> dict:
    """
    Return the median and 95th percentile time of each function, in ms.

    The functions take turns, so that a burst of load on the machine hits
    them alike.
    """
    times: dict[str, list[float]] = {name: [] for name in functions}
    for function in functions.values():
        function()
    for _ in range(repeat):
        for name, function in functions.items():
            start = time.perf_counter()
            function()
            times[name].append((time.perf_counter() - start) * 1000)
    result = {}
    for name, values in times.items():
        values.sort()
        result[name] = (statistics.median(values), values[int(len(values) * 0.95) - 1])
    return result


def get_json(client, url: str) -> dict:
    response = client.get(url)
    assert response.status_code == 200, response.content[:300]
    return response.json()


def deep_url(client, url: str, depth: int) -> str:
    """Follow next links from url, 500 runs a page, to the given depth."""
    separator = "&" if "?" in url else "?"
    next_url = f"{url}{separator}limit=500"
    for _page in range(depth // 500):
        next_url = get_json(client, next_url)["next"]
    return next_url.replace("limit=500", "limit=50")


def bench(database: str, refill: bool) -> None:
    if refill:
        BenchDatabase(database, DB_NAME).drop()
    configure(database)
    from django.contrib.auth.models import User
    from django.db import connection
    from django.test import Client

    from batchrun.cursors import dump_cursor
    from batchrun.models import JobRun

    print(f"== {database}")
    if not is_filled():
        if "batchrun_jobrun" in connection.introspection.table_names():
            sys.exit("The benchmark database is half filled; run with --refill.")
        fill(connection.vendor)
    client = Client()
    client.force_login(User.objects.get(username="bench"))
    figures = {}

    first = "/batchrun/runlogs.json"
    deep = deep_url(client, first, DEPTH)
    assert len(get_json(client, first)["results"]) == 50
    assert len(get_json(client, deep)["results"]) == 50
    figures.update(
        measure(
            {
                "runs, first page": lambda: client.get(first),
                f"runs, depth {DEPTH:,}": lambda: client.get(deep),
            }
        )
    )

    job = JobRun.objects.order_by("-created_at", "-id").first().job_id
    first_job = f"/batchrun/runlogs.json?job={job}"
    deep_job = deep_url(client, first_job, JOB_DEPTH)
    figures.update(
        measure(
            {
                "job filter, first page": lambda: client.get(first_job),
                f"job filter, depth {JOB_DEPTH:,}": lambda: client.get(deep_job),
            }
        )
    )

    long_run = JobRun.objects.order_by("-stdout_lines").first()
    log = f"/batchrun/runlogs/{long_run.pk}.json?limit=1000"
    middle_seq = LONG_RUN_LINES // LONG_RUN_CHUNK_LINES // 2
    token = dump_cursor("output", [long_run.pk, 0, middle_seq, 0, 0])
    middle = f"{log}&after={token}"
    assert len(get_json(client, log)["entries"]) == 1000
    assert get_json(client, middle)["entries"][0]["line"] == LONG_RUN_LINES // 2 + 1
    figures.update(
        measure(
            {
                "1,000 lines, start of output": lambda: client.get(log),
                f"1,000 lines from line {LONG_RUN_LINES // 2 + 1:,}": (
                    lambda: client.get(middle)
                ),
            }
        )
    )

    ordered = JobRun.objects.order_by("-created_at", "-id")
    figures.update(
        measure(
            {
                f"for scale: OFFSET {DEPTH:,} query": (
                    lambda: list(ordered[DEPTH : DEPTH + 50])
                ),
                "for scale: count(*) of runs": lambda: JobRun.objects.count(),
            },
            repeat=15,
        )
    )

    for name, (median, p95) in figures.items():
        print(f"  {name:34} median {median:7.2f} ms   p95 {p95:7.2f} ms")
    ratio = figures[f"runs, depth {DEPTH:,}"][0] / figures["runs, first page"][0]
    print(f"  depth {DEPTH:,} / first page (medians): {ratio:.2f}")


def main(argv: list[str]) -> int:
    refill = "--refill" in argv
    databases = [name for name in argv if not name.startswith("--")]
    databases = databases or ["sqlite", "postgresql"]
    unknown = set(databases) - {"sqlite", "postgresql"}
    if unknown:
        print(f"Unknown databases: {', '.join(sorted(unknown))}", file=sys.stderr)
        return 2
    sys.path.insert(0, str(ROOT))
    os.chdir(ROOT)
    # The database is kept for the next run, so not run_on_each, which drops
    # it; a child per database all the same, as Django is configured once.
    results = [
        run_in_child(lambda database: bench(database, refill), database)
        for database in databases
    ]
    return 0 if all(results) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
