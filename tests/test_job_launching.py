"""Tests of batchrun.job_launching with real, detached executor processes."""

import errno
import json
import os

import pytest
from django.db import transaction

from batchrun import job_launching
from batchrun.exceptions import LaunchError
from batchrun.job_launching import launch_runs, run_job
from batchrun.models import Command, Job, JobRun, LogChunk

from .scheduler_helpers import get_output, make_python_job, wait_for_end

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

REPORT_EXECUTOR = """
import json, os
executor = os.getppid()
with open(f"/proc/{executor}/stat") as stat:
    fields = stat.read().rpartition(")")[2].split()
with open(f"/proc/{executor}/status") as status:
    umask = dict(line.rstrip("\\n").split(":\\t", 1) for line in status)["Umask"]
print(json.dumps({
    "executor": executor,
    "parent": int(fields[1]),
    "session": int(fields[3]),
    "umask": umask,
    "fds": [os.readlink(f"/proc/{executor}/fd/{fd}") for fd in (0, 1, 2)],
    "cwd": os.readlink(f"/proc/{executor}/cwd"),
    "run_id": os.environ["BATCHRUN_RUN_ID"],
    "job": os.environ["BATCHRUN_JOB"],
    "scheduled_for": os.environ["BATCHRUN_SCHEDULED_FOR"],
}))
"""


def assert_no_child_processes():
    with pytest.raises(ChildProcessError):
        os.waitpid(-1, os.WNOHANG)


class TestRunJob:
    def test_a_manual_run_executes_in_a_detached_daemon_process(self):
        job = make_python_job("report", REPORT_EXECUTOR)

        run = run_job(job, method="fork")

        assert_no_child_processes()
        run = wait_for_end(run)
        assert (run.status, run.trigger, run.scheduled_for) == (
            "succeeded",
            "manual",
            None,
        ), get_output(run, LogChunk.Stream.STDERR)
        report = json.loads(get_output(run, LogChunk.Stream.STDOUT))
        assert report["executor"] != os.getpid()
        assert report["parent"] != os.getpid()
        assert report["session"] != os.getsid(0)
        assert report["fds"] == ["/dev/null", "/dev/null", "/dev/null"]
        assert report["umask"] == "0022"
        assert report["cwd"] == os.getcwd()
        assert (report["run_id"], report["job"], report["scheduled_for"]) == (
            str(run.pk),
            "report",
            "",
        )

    def test_spawn_starts_the_executor_command_detached_too(
        self, subprocess_env, monkeypatch
    ):
        # A spawned executor is a new Python: point it at the test database.
        for name in ("BATCHRUN_TEST_SUBPROCESS", "DJANGO_SETTINGS_MODULE"):
            monkeypatch.setenv(name, subprocess_env[name])
        job = make_python_job("report", REPORT_EXECUTOR)

        run = run_job(job, method="spawn")

        assert_no_child_processes()
        run = wait_for_end(run)
        assert run.status == "succeeded"
        report = json.loads(get_output(run, LogChunk.Stream.STDOUT))
        assert report["session"] != os.getsid(0)
        assert report["fds"] == ["/dev/null", "/dev/null", "/dev/null"]

    def test_inside_a_transaction_the_launch_waits_for_the_commit(self):
        job = make_python_job("quick", "print('done')")

        with transaction.atomic():
            run = run_job(job, method="fork")
            pending = JobRun.objects.get(pk=run.pk)

        assert (pending.status, pending.started_at) == ("running", None)
        assert wait_for_end(run).status == "succeeded"

    def test_an_unknown_executable_ends_as_launch_failed(self):
        command = Command.objects.create(name="no-such-program-batchrun")
        job = Job.objects.create(name="missing", command=command)

        run = wait_for_end(run_job(job, method="fork"))

        assert (run.status, run.message) == (
            "launch_failed",
            "No executable 'no-such-program-batchrun' was found on PATH.",
        )

    def test_a_missing_argument_ends_as_launch_failed(self):
        command = Command.objects.create(
            name="echo", parameter_format_string="--rent-id {rent_id}"
        )
        job = Job.objects.create(name="rent", command=command)

        run = wait_for_end(run_job(job, method="fork"))

        assert run.status == "launch_failed"
        assert "Missing arguments: rent_id." in run.message


class TestLaunchRuns:
    def test_runs_in_several_groups_are_all_launched_once(self, monkeypatch):
        monkeypatch.setattr(job_launching, "GROUP_SIZE", 4)
        job = make_python_job(
            "count", "import os; print(os.environ['BATCHRUN_RUN_ID'])"
        )
        runs = [JobRun.objects.create(job=job, heartbeat_at=None) for _ in range(10)]

        launch_runs(runs, method="fork")

        assert_no_child_processes()
        for run in runs:
            assert wait_for_end(run).status == "succeeded"
            assert get_output(run, LogChunk.Stream.STDOUT) == f"{run.pk}\n".encode()

    def test_a_failed_fork_records_launch_failed_with_the_reason(self, monkeypatch):
        job = make_python_job("never", "print('never')")
        run = JobRun.objects.create(job=job)

        def fail():
            raise OSError(errno.EAGAIN, "Resource temporarily unavailable")

        # Root is not bound by RLIMIT_NPROC, so a real fork failure cannot be
        # provoked here.
        monkeypatch.setattr(os, "fork", fail)

        launch_runs([run], method="fork")

        run.refresh_from_db()
        assert (run.status, run.message) == (
            "launch_failed",
            "The executor could not be started: fork failed: [Errno 11] "
            "Resource temporarily unavailable.",
        )
        assert run.stopped_at is not None

    def test_launching_inside_a_transaction_is_refused(self):
        job = make_python_job("never", "print('never')")
        run = JobRun.objects.create(job=job)

        with transaction.atomic(), pytest.raises(LaunchError, match="on_commit"):
            launch_runs([run], method="fork")

    def test_an_unknown_method_is_refused(self):
        job = make_python_job("never", "print('never')")
        run = JobRun.objects.create(job=job)

        with pytest.raises(ValueError, match="Unknown launch method 'thread'"):
            launch_runs([run], method="thread")
