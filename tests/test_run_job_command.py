"""Tests of ``manage.py batchrun_run_job``, run as a real process."""

import subprocess
import sys

import pytest

from batchrun.models import Command, Job, JobRun

from .scheduler_helpers import make_shell_job, wait_for_end

pytestmark = pytest.mark.slow


def run_command(env, *args, timeout=60):
    return subprocess.run(
        [sys.executable, "-m", "django", "batchrun_run_job", *args],
        env=env,
        capture_output=True,
        timeout=timeout,
    )


def test_wait_streams_both_streams_and_exits_with_the_jobs_exit_code(
    subprocess_env,
):
    make_shell_job("mixed", "echo out1; echo err1 >&2; printf 'out2\\n'; exit 3")

    result = run_command(subprocess_env, "mixed", "--wait")

    run = JobRun.objects.get()
    assert result.returncode == 3
    assert result.stdout == b"out1\nout2\n"
    assert result.stderr == f"err1\nRun #{run.pk} ended failed.\n".encode()


def test_wait_exits_zero_and_prints_only_the_output_of_a_succeeding_job(
    subprocess_env,
):
    make_shell_job("hello", "printf 'h\\351\\000llo'")

    result = run_command(subprocess_env, "hello", "--wait")

    assert (result.returncode, result.stderr) == (0, b"")
    assert result.stdout == b"h\xe9\x00llo"


def test_a_job_can_be_named_by_its_id(subprocess_env):
    job = make_shell_job("by-id", "echo found")

    result = run_command(subprocess_env, str(job.pk), "--wait")

    assert (result.returncode, result.stdout) == (0, b"found\n")


def test_without_wait_it_prints_the_run_and_the_run_goes_on(subprocess_env):
    make_shell_job("sleepy", "sleep 1; echo done")

    result = run_command(subprocess_env, "sleepy")

    run = JobRun.objects.get()
    assert result.returncode == 0
    assert result.stdout == f"Launched run #{run.pk} of job sleepy.\n".encode()
    assert (run.status, run.trigger) == ("running", "manual")
    assert wait_for_end(run).status == "succeeded"


def test_output_appears_while_the_job_still_runs(subprocess_env):
    make_shell_job("slow", "echo first; sleep 3; echo second")
    process = subprocess.Popen(
        [sys.executable, "-m", "django", "batchrun_run_job", "slow", "--wait"],
        env=subprocess_env,
        stdout=subprocess.PIPE,
    )
    try:
        first = process.stdout.readline()
        status_meanwhile = JobRun.objects.get().status
        rest, _ = process.communicate(timeout=30)
    finally:
        process.kill()

    assert (first, status_meanwhile, rest) == (b"first\n", "running", b"second\n")
    assert process.returncode == 0


def test_an_unknown_job_is_a_command_error_naming_it(subprocess_env):
    result = run_command(subprocess_env, "nope", "--wait")

    assert result.returncode == 1
    assert result.stderr == b"CommandError: No job has the id or name 'nope'.\n"
    assert JobRun.objects.count() == 0


def test_a_job_that_cannot_start_exits_1_with_the_reason(subprocess_env):
    command = Command.objects.create(name="no-such-program-batchrun")
    Job.objects.create(name="broken", command=command)

    result = run_command(subprocess_env, "broken", "--wait")

    run = JobRun.objects.get()
    assert result.returncode == 1
    assert result.stderr.decode() == (
        f"Run #{run.pk} ended launch_failed: No executable "
        "'no-such-program-batchrun' was found on PATH.\n"
    )


def test_a_job_killed_by_a_signal_exits_like_a_shell_would(subprocess_env):
    make_shell_job("doomed", "kill -KILL $$")

    result = run_command(subprocess_env, "doomed", "--wait")

    assert result.returncode == 128 + 9
    assert JobRun.objects.get().status == "killed"
