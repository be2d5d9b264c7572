"""
Tests that run real ``batchrun_scheduler`` processes against the test database.

The jobs write what they are to a file themselves, so the tests count what
really ran, not only the rows the schedulers wrote.
"""

import datetime
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from django.db import connection
from django.utils import timezone

from batchrun.models import Command, Job, JobRun, ScheduledJob, SchedulerHeartbeat

from .scheduler_helpers import (
    get_output,
    make_shell_job,
    process_exists,
    wait_for,
    wait_for_end,
)

pytestmark = pytest.mark.slow

HELSINKI = ZoneInfo("Europe/Helsinki")
APPEND_IDENTITY = (
    'echo "$BATCHRUN_RUN_ID $BATCHRUN_JOB $BATCHRUN_SCHEDULED_FOR" >> {path}'
)


@pytest.fixture
def start_scheduler(subprocess_env, tmp_path):
    """Start scheduler processes; kill the ones a test leaves running."""
    processes = []

    def start(*options: str, env_extra: dict | None = None) -> subprocess.Popen:
        log = open(tmp_path / f"scheduler-{len(processes)}.log", "wb")  # noqa: SIM115
        process = subprocess.Popen(
            [sys.executable, "-m", "django", "batchrun_scheduler", "-v", "2", *options],
            env={**subprocess_env, **(env_extra or {})},
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        process.log_path = log.name
        log.close()
        processes.append(process)
        return process

    yield start
    for process in processes:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=10)


def scheduler_log(process: subprocess.Popen) -> str:
    return Path(process.log_path).read_text(errors="replace")


def next_minute(at_least: float) -> datetime.datetime:
    """Return the first whole minute at least ``at_least`` seconds from now."""
    earliest = timezone.now() + datetime.timedelta(seconds=at_least)
    minute = earliest.replace(second=0, microsecond=0)
    return minute if minute >= earliest else minute + datetime.timedelta(minutes=1)


def rule_for(moment: datetime.datetime) -> dict[str, str]:
    """Return the rule fields that fire only at this minute, in Helsinki."""
    local = moment.astimezone(HELSINKI)
    return {
        "timezone": "Europe/Helsinki",
        "years": str(local.year),
        "months": str(local.month),
        "days_of_month": str(local.day),
        "hours": str(local.hour),
        "minutes": str(local.minute),
    }


def schedule_now(job: Job, **fields) -> ScheduledJob:
    """Schedule a job every minute, as if saved a minute ago: one is due now."""
    schedule = ScheduledJob.objects.create(job=job, minutes="*", **fields)
    active_since = timezone.now() - datetime.timedelta(minutes=1)
    ScheduledJob.objects.filter(pk=schedule.pk).update(active_since=active_since)
    return schedule


def started_run(job: Job, timeout: float = 30) -> JobRun:
    """Wait for the scheduler to launch a run of a job and for it to start."""
    return wait_for(
        lambda: JobRun.objects.filter(job=job, pid__isnull=False).first(),
        timeout,
        message=f"No run of {job.name} started.",
    )


def ended_run(job: Job, timeout: float = 30) -> JobRun:
    """Wait for the scheduler to launch a run of a job and for it to end."""
    run = wait_for(
        lambda: JobRun.objects.filter(job=job).exclude(status="skipped").first(),
        timeout,
        message=f"No run of {job.name} was launched.",
    )
    return wait_for_end(run)


OCCURRENCES = 300


def test_four_schedulers_launch_each_of_hundreds_of_occurrences_once(
    start_scheduler, tmp_path
):
    identities = tmp_path / "identities.txt"
    due = next_minute(at_least=10)
    command = Command.objects.create(name="/bin/sh", parameter_format_string="-c {s}")
    jobs = Job.objects.bulk_create(
        Job(
            name=f"job-{number:03}",
            command=command,
            arguments={"s": APPEND_IDENTITY.format(path=identities)},
        )
        for number in range(OCCURRENCES)
    )
    ScheduledJob.objects.bulk_create(
        ScheduledJob(job=job, **rule_for(due)) for job in jobs
    )
    schedulers = [start_scheduler() for _ in range(4)]

    wait_for(
        lambda: (
            JobRun.objects.count() == OCCURRENCES
            and not JobRun.objects.running().exists()
        ),
        timeout=(due - timezone.now()).total_seconds() + 60,
        interval=0.5,
        message="The occurrences did not all run.",
    )
    for scheduler in schedulers:
        scheduler.send_signal(signal.SIGTERM)
    exit_codes = [scheduler.wait(timeout=20) for scheduler in schedulers]

    assert exit_codes == [0, 0, 0, 0], [scheduler_log(s) for s in schedulers]
    runs = list(JobRun.objects.select_related("job"))
    assert {run.status for run in runs} == {"succeeded"}
    assert {run.scheduled_for for run in runs} == {due}
    assert len({run.job.name for run in runs}) == OCCURRENCES
    lines = identities.read_text().splitlines()
    assert len(lines) == OCCURRENCES
    due_text = due.astimezone(HELSINKI).isoformat()
    assert set(lines) == {f"{run.pk} {run.job.name} {due_text}" for run in runs}
    assert SchedulerHeartbeat.objects.count() == 0


def test_jobs_outlive_a_scheduler_killed_with_sigkill(start_scheduler):
    job = make_shell_job("survivor", "echo before; sleep 2; echo after >&2; exit 7")
    schedule_now(job)
    scheduler = start_scheduler()
    run = started_run(job)

    scheduler.kill()
    scheduler.wait(timeout=10)

    run = wait_for_end(run)
    assert (run.status, run.exit_code, run.trigger) == ("failed", 7, "schedule")
    assert get_output(run, 1) == b"before\n"
    assert get_output(run, 2) == b"after\n"
    assert (run.stdout_lines, run.stderr_lines) == (1, 1)


def test_sigterm_stops_the_scheduler_cleanly_and_leaves_jobs_running(
    start_scheduler,
):
    job = make_shell_job("long", "sleep 3; echo finished")
    schedule_now(job)
    scheduler = start_scheduler()
    run = started_run(job)
    wait_for(SchedulerHeartbeat.objects.exists, 10)

    scheduler.send_signal(signal.SIGTERM)
    exit_code = scheduler.wait(timeout=10)

    run.refresh_from_db()
    assert exit_code == 0, scheduler_log(scheduler)
    assert SchedulerHeartbeat.objects.count() == 0
    assert run.status == "running"
    assert process_exists(run.pid)
    run = wait_for_end(run)
    assert (run.status, get_output(run, 1)) == ("succeeded", b"finished\n")
    assert "Stopping after the current pass signal=SIGTERM" in scheduler_log(scheduler)


def test_sigint_stops_the_scheduler_with_exit_status_zero(start_scheduler):
    scheduler = start_scheduler()
    wait_for(SchedulerHeartbeat.objects.exists, 20)

    scheduler.send_signal(signal.SIGINT)

    assert scheduler.wait(timeout=10) == 0
    assert SchedulerHeartbeat.objects.count() == 0


def test_bad_jobs_and_bad_schedules_never_stop_the_scheduler(start_scheduler):
    unknown = Job.objects.create(
        name="unknown", command=Command.objects.create(name="no-such-program-batchrun")
    )
    missing = Job.objects.create(
        name="missing",
        command=Command.objects.create(
            name="echo", parameter_format_string="--rent-id {rent_id}"
        ),
    )
    good = make_shell_job("good", "echo fine")
    bad_rule = make_shell_job("bad-rule", "echo never")
    for job in (unknown, missing, good, bad_rule):
        schedule_now(job)
    ScheduledJob.objects.filter(job=bad_rule).update(minutes="*/0")
    scheduler = start_scheduler()

    runs = {job.name: ended_run(job) for job in (unknown, missing, good)}

    assert scheduler.poll() is None
    assert {name: run.status for name, run in runs.items()} == {
        "unknown": "launch_failed",
        "missing": "launch_failed",
        "good": "succeeded",
    }
    assert runs["unknown"].message == (
        "No executable 'no-such-program-batchrun' was found on PATH."
    )
    assert "Missing arguments: rent_id." in runs["missing"].message
    assert not JobRun.objects.filter(job=bad_rule).exists()
    scheduler.send_signal(signal.SIGTERM)
    assert scheduler.wait(timeout=10) == 0
    log = scheduler_log(scheduler)
    assert log.count("Ignoring scheduled job with an invalid rule") == 1


def test_once_does_one_pass_and_exits(start_scheduler):
    job = make_shell_job("once", "echo once")
    schedule_now(job)

    scheduler = start_scheduler("--once")

    assert scheduler.wait(timeout=30) == 0
    assert ended_run(job).status == "succeeded"
    assert JobRun.objects.filter(job=job).count() == 1
    assert SchedulerHeartbeat.objects.count() == 0


@pytest.mark.skipif(
    os.environ.get("BATCHRUN_TEST_DB") != "postgresql"
    or os.environ.get("BATCHRUN_TEST_PG_RESTART") != "1"
    or not shutil.which("pg_ctlcluster"),
    reason="restarts PostgreSQL: needs BATCHRUN_TEST_DB=postgresql, "
    "BATCHRUN_TEST_PG_RESTART=1 and pg_ctlcluster",
)
def test_the_scheduler_survives_a_postgresql_restart(start_scheduler):
    version = sorted(os.listdir("/etc/postgresql"))[-1]
    job = make_shell_job("after-restart", "echo back")
    ScheduledJob.objects.create(job=job, minutes="*")
    scheduler = start_scheduler()
    wait_for(SchedulerHeartbeat.objects.exists, 20)
    due = next_minute(at_least=3)
    time.sleep(max(0.0, (due - timezone.now()).total_seconds() - 1.5))

    connection.close()
    pg_ctl = ["pg_ctlcluster", "--skip-systemctl-redirect", version, "main"]
    subprocess.run([*pg_ctl, "stop", "-m", "fast"], check=True, timeout=60)
    try:
        time.sleep(max(0.0, (due - timezone.now()).total_seconds() + 1.0))
    finally:
        subprocess.run([*pg_ctl, "start"], check=True, timeout=60)

    run = wait_for(
        lambda: JobRun.objects.filter(job=job, scheduled_for=due).first(),
        30,
        interval=0.5,
        message="The occurrence due during the outage was not launched.",
    )
    assert wait_for_end(run).status == "succeeded"
    assert scheduler.poll() is None
    scheduler.send_signal(signal.SIGTERM)
    assert scheduler.wait(timeout=10) == 0
    assert "Database error, retrying" in scheduler_log(scheduler)
