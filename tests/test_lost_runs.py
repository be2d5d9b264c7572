"""Tests for batchrun.lost_runs: runs whose executor stopped beating."""

import datetime
import threading

import pytest
from django.db import connection
from django.utils import timezone

from batchrun.job_running import execute_job_run
from batchrun.lost_runs import mark_lost_runs
from batchrun.models import JobRun, LogChunk

from .executor_helpers import make_run, python_run, stored_output, wait_for

NOW = datetime.datetime(2026, 5, 4, 12, 0, tzinfo=datetime.UTC)


def ago(seconds: float) -> datetime.datetime:
    return NOW - datetime.timedelta(seconds=seconds)


@pytest.fixture
def lost_after(settings):
    settings.BATCHRUN_LOST_AFTER = 60


@pytest.mark.django_db
@pytest.mark.usefixtures("lost_after")
class TestMarkLostRuns:
    def test_a_run_without_heartbeats_for_too_long_is_lost(self, caplog):
        run = make_run("true", heartbeat_at=ago(61), started_at=ago(100))

        assert mark_lost_runs(now=NOW) == 1

        run.refresh_from_db()
        assert run.status == JobRun.Status.LOST
        assert run.stopped_at == ago(61)
        assert run.message == (
            "The executor stopped sending heartbeats: none since "
            "2026-05-04T11:58:59+00:00, more than 60 seconds before "
            "2026-05-04T12:00:00+00:00. The job may have gone on running; its "
            "output so far is kept, and it is not run again."
        )
        assert [r.getMessage() for r in caplog.records] == [
            f"Run lost: run={run.pk} last_heartbeat=2026-05-04T11:58:59+00:00"
        ]

    def test_a_run_with_a_recent_heartbeat_is_left_running(self):
        run = make_run("true", heartbeat_at=ago(59))

        assert mark_lost_runs(now=NOW) == 0

        run.refresh_from_db()
        assert run.status == JobRun.Status.RUNNING

    @pytest.mark.parametrize(
        "status",
        [JobRun.Status.SUCCEEDED, JobRun.Status.LAUNCH_FAILED, JobRun.Status.LOST],
    )
    def test_finished_runs_are_left_alone(self, status):
        run = make_run("true", heartbeat_at=ago(600), status=status, message="as is")

        assert mark_lost_runs(now=NOW) == 0

        run.refresh_from_db()
        assert (run.status, run.message) == (status, "as is")

    def test_a_run_that_never_beat_is_judged_by_its_creation(self):
        old = make_run("true", created_at=ago(61))
        new = make_run("true", created_at=ago(10))
        JobRun.objects.update(heartbeat_at=None)

        assert mark_lost_runs(now=NOW) == 1

        assert JobRun.objects.get(pk=old.pk).status == JobRun.Status.LOST
        assert JobRun.objects.get(pk=old.pk).stopped_at == ago(61)
        assert JobRun.objects.get(pk=new.pk).status == JobRun.Status.RUNNING

    def test_the_output_of_a_lost_run_is_kept(self):
        run = make_run("true", heartbeat_at=ago(120))
        LogChunk.objects.create(
            run=run, seq=0, stream=1, time=ago(125), first_line=1, line_count=1,
            text="so far\n",
        )  # fmt: skip

        mark_lost_runs(now=NOW)

        assert stored_output(run) == b"so far\n"

    def test_a_heartbeat_arriving_meanwhile_keeps_the_run_running(self):
        run = make_run("true", heartbeat_at=ago(61))
        beaten = []

        def beat_before_update(execute, sql, params, many, context):
            if sql.startswith("UPDATE") and not beaten:
                beaten.append(True)
                JobRun.objects.filter(pk=run.pk).update(heartbeat_at=NOW)
            return execute(sql, params, many, context)

        with connection.execute_wrapper(beat_before_update):
            assert mark_lost_runs(now=NOW) == 0

        run.refresh_from_db()
        assert beaten
        assert run.status == JobRun.Status.RUNNING
        assert run.heartbeat_at == NOW

    def test_a_run_marked_by_another_scheduler_meanwhile_counts_once(self):
        run = make_run("true", heartbeat_at=ago(61))
        other = []

        def other_scheduler_first(execute, sql, params, many, context):
            if sql.startswith("UPDATE") and not other:
                other.append("running")
                other.append(mark_lost_runs(now=NOW + datetime.timedelta(seconds=1)))
            return execute(sql, params, many, context)

        with connection.execute_wrapper(other_scheduler_first):
            assert mark_lost_runs(now=NOW) == 0

        run.refresh_from_db()
        assert other == ["running", 1]
        assert run.status == JobRun.Status.LOST
        assert "before 2026-05-04T12:00:01+00:00." in run.message

    def test_a_tick_without_lost_runs_costs_one_query(self, django_assert_num_queries):
        make_run("true", heartbeat_at=ago(1))

        with django_assert_num_queries(1):
            assert mark_lost_runs(now=NOW) == 0


@pytest.mark.django_db(transaction=True)
def test_an_executor_marked_lost_by_mistake_records_the_real_end(settings):
    settings.BATCHRUN_HEARTBEAT_INTERVAL = 0.2
    run = python_run("import time; print('slow', flush=True); time.sleep(1)")

    def mark_lost():
        try:
            started = JobRun.objects.filter(pk=run.pk, pid__isnull=False)
            assert wait_for(started.exists)
            later = timezone.now() + datetime.timedelta(hours=1)
            assert mark_lost_runs(now=later) == 1
        finally:
            connection.close()

    marker = threading.Thread(target=mark_lost)
    marker.start()
    execute_job_run(run)
    marker.join()

    run.refresh_from_db()
    assert run.status == JobRun.Status.SUCCEEDED
    assert run.message == ""
    assert stored_output(run) == b"slow\n"
