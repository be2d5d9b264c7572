"""Tests of batchrun.claiming: each occurrence becomes one run, whoever claims."""

import datetime
import json
import subprocess
import sys
import time

import pytest
from django.utils import timezone

from batchrun.claiming import Claim, claim_occurrences
from batchrun.models import Command, Job, JobRun, ScheduledJob

FIRST = datetime.datetime(2030, 5, 1, 9, 0, tzinfo=datetime.UTC)


def minutes(count: int) -> list[datetime.datetime]:
    return [FIRST + datetime.timedelta(minutes=n) for n in range(count)]


@pytest.fixture
def command():
    return Command.objects.create(name="true")


@pytest.fixture
def schedule(command):
    job = Job.objects.create(name="nightly", command=command)
    return ScheduledJob.objects.create(job=job)


def make_schedule(command, name, overlap_policy=Job.OverlapPolicy.ALLOW):
    job = Job.objects.create(name=name, command=command, overlap_policy=overlap_policy)
    return ScheduledJob.objects.create(job=job)


@pytest.mark.django_db
class TestClaimOccurrences:
    def test_a_claim_records_a_running_run_with_a_heartbeat_and_no_pid(self, schedule):
        now = timezone.now()

        [run] = claim_occurrences([Claim(schedule, FIRST)], now)

        run.refresh_from_db()
        assert (run.status, run.trigger, run.pid, run.started_at) == (
            "running",
            "schedule",
            None,
            None,
        )
        assert (run.scheduled_job, run.job, run.scheduled_for) == (
            schedule,
            schedule.job,
            FIRST,
        )
        assert run.heartbeat_at == now

    def test_an_occurrence_is_won_only_by_the_first_claim(self, schedule):
        first = claim_occurrences([Claim(schedule, FIRST)])

        second = claim_occurrences([Claim(schedule, FIRST)])

        assert len(first) == 1
        assert second == []
        assert JobRun.objects.count() == 1

    def test_a_lost_claim_does_not_undo_the_others_in_its_batch(self, schedule):
        claim_occurrences([Claim(schedule, minutes(3)[1])])

        won = claim_occurrences([Claim(schedule, when) for when in minutes(3)])

        assert [run.scheduled_for for run in won] == [minutes(3)[0], minutes(3)[2]]
        assert JobRun.objects.count() == 3

    def test_batches_larger_than_one_transaction_are_all_recorded(self, schedule):
        won = claim_occurrences([Claim(schedule, when) for when in minutes(120)])

        assert len(won) == 120
        assert JobRun.objects.filter(status="running").count() == 120

    def test_a_skipped_claim_records_its_reason_and_stop_time(self, schedule):
        now = timezone.now()
        claim = Claim(schedule, FIRST, JobRun.Status.SKIPPED, "Not launched: late.")

        [run] = claim_occurrences([claim], now)

        run.refresh_from_db()
        assert (run.status, run.message, run.heartbeat_at, run.stopped_at) == (
            "skipped",
            "Not launched: late.",
            None,
            now,
        )

    def test_skip_policy_skips_an_occurrence_while_a_run_is_running(self, command):
        schedule = make_schedule(command, "exclusive", Job.OverlapPolicy.SKIP)
        running = JobRun.objects.create(job=schedule.job, status="running")

        [run] = claim_occurrences([Claim(schedule, FIRST)])

        assert run.status == "skipped"
        assert run.message == (
            f"Not launched: run #{running.pk} of this job was still running and "
            "the job's overlap policy is skip."
        )

    def test_skip_policy_launches_when_the_previous_run_has_ended(self, command):
        schedule = make_schedule(command, "exclusive", Job.OverlapPolicy.SKIP)
        JobRun.objects.create(job=schedule.job, status="succeeded")

        [run] = claim_occurrences([Claim(schedule, FIRST)])

        assert run.status == "running"

    def test_skip_policy_applies_between_schedules_of_one_job_in_one_batch(
        self, command
    ):
        first = make_schedule(command, "exclusive", Job.OverlapPolicy.SKIP)
        second = ScheduledJob.objects.create(job=first.job)

        runs = claim_occurrences([Claim(first, FIRST), Claim(second, FIRST)])

        assert [run.status for run in runs] == ["running", "skipped"]

    def test_allow_policy_launches_while_a_run_is_running(self, command):
        schedule = make_schedule(command, "parallel", Job.OverlapPolicy.ALLOW)
        JobRun.objects.create(job=schedule.job, status="running")

        [run] = claim_occurrences([Claim(schedule, FIRST)])

        assert run.status == "running"


@pytest.mark.django_db(transaction=True)
def test_a_schedule_deleted_meanwhile_loses_only_its_own_claim(command):
    # PostgreSQL and SQLite check foreign keys at commit, so this needs real
    # transactions.
    kept = make_schedule(command, "kept")
    gone = make_schedule(command, "gone")
    gone_claim = Claim(gone, FIRST)
    ScheduledJob.objects.filter(pk=gone.pk).delete()

    won = claim_occurrences([gone_claim, Claim(kept, FIRST)])

    assert [run.scheduled_job_id for run in won] == [kept.pk]
    assert list(JobRun.objects.values_list("scheduled_job_id", flat=True)) == [kept.pk]


CLAIMER = """
import datetime, json, sys, time
import django
django.setup()
from batchrun.claiming import Claim, claim_occurrences
from batchrun.models import ScheduledJob
start_at, first = float(sys.argv[1]), datetime.datetime.fromisoformat(sys.argv[2])
schedules = list(ScheduledJob.objects.select_related("job").order_by("pk"))
claims = [
    Claim(schedule, first + datetime.timedelta(minutes=n))
    for schedule in schedules
    for n in range(int(sys.argv[3]))
]
time.sleep(max(0.0, start_at - time.time()))
won = claim_occurrences(claims)
print(json.dumps([[r.scheduled_job_id, r.scheduled_for.isoformat()] for r in won]))
"""


@pytest.mark.slow
def test_competing_processes_claim_each_occurrence_exactly_once(
    subprocess_env, command
):
    for number in range(30):
        make_schedule(command, f"job-{number}")
    start_at = time.time() + 4

    processes = [
        subprocess.Popen(
            [sys.executable, "-c", CLAIMER, str(start_at), FIRST.isoformat(), "5"],
            env=subprocess_env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(4)
    ]
    results = [process.communicate(timeout=90) for process in processes]

    assert [process.returncode for process in processes] == [0, 0, 0, 0], results
    won = [tuple(item) for stdout, _ in results for item in json.loads(stdout)]
    assert len(won) == 150
    assert len(set(won)) == 150
    assert JobRun.objects.count() == 150
