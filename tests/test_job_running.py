"""Tests for batchrun.job_running: real jobs run by the executor in-process."""

import datetime
import json
import random
import re
import signal
import sys
import threading

import pytest
from django.db import OperationalError, connection
from django.utils import timezone

from batchrun import job_running, log_storage
from batchrun.job_running import execute_job_run
from batchrun.models import JobRun, LogChunk
from batchrun.output_chunks import OutputLog

from .executor_helpers import (
    STDERR,
    STDOUT,
    check_chunks,
    make_run,
    python_run,
    stored_output,
    wait_for,
)

pytestmark = pytest.mark.django_db(transaction=True)


def execute(run: JobRun) -> JobRun:
    execute_job_run(run)
    run.refresh_from_db()
    return run


def in_thread(function) -> threading.Thread:
    """Run function in a thread with its own database connection."""

    def target():
        try:
            function()
        finally:
            connection.close()

    thread = threading.Thread(target=target)
    thread.start()
    return thread


class TestEnd:
    def test_a_job_exiting_0_succeeds_and_its_run_is_recorded(self):
        run = python_run("print('hello')")
        before = timezone.now()

        run = execute(run)

        assert run.status == JobRun.Status.SUCCEEDED
        assert run.exit_code == 0
        assert run.message == ""
        assert run.host
        assert run.pid > 0
        assert before <= run.started_at <= run.stopped_at <= timezone.now()
        assert run.heartbeat_at >= run.started_at
        assert stored_output(run) == b"hello\n"
        assert (run.stdout_lines, run.stderr_lines, run.output_bytes) == (1, 0, 6)

    def test_a_job_exiting_non_zero_fails(self):
        run = execute(python_run("import sys; sys.exit(3)"))

        assert run.status == JobRun.Status.FAILED
        assert run.exit_code == 3
        assert run.message == ""

    def test_a_job_ended_by_a_signal_is_killed(self):
        run = execute(python_run("import os; os.kill(os.getpid(), 9)"))

        assert run.status == JobRun.Status.KILLED
        assert run.exit_code == -9
        assert run.message == "The job was ended by signal SIGKILL."

    def test_a_job_over_its_timeout_gets_term_and_times_out(self, settings):
        settings.BATCHRUN_KILL_GRACE_PERIOD = 5
        run = python_run(
            "import time; print('started', flush=True); time.sleep(30)",
            timeout=datetime.timedelta(seconds=0.5),
        )

        run = execute(run)

        assert run.status == JobRun.Status.TIMED_OUT
        assert run.exit_code == -signal.SIGTERM
        assert run.message == (
            "The job ran longer than its timeout of 0:00:00.500000: TERM was "
            "sent to its process group."
        )
        assert run.stopped_at - run.started_at < datetime.timedelta(seconds=4)
        assert stored_output(run) == b"started\n"

    def test_a_job_ignoring_term_gets_kill_after_the_grace_period(self, settings):
        settings.BATCHRUN_KILL_GRACE_PERIOD = 0.5
        code = (
            "import signal, time\n"
            "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
            "time.sleep(30)\n"
        )
        run = python_run(code, timeout=datetime.timedelta(seconds=0.3))

        run = execute(run)

        assert run.status == JobRun.Status.TIMED_OUT
        assert run.exit_code == -signal.SIGKILL
        assert run.message.endswith(
            "TERM was sent to its process group, then KILL after the grace period."
        )
        assert run.stopped_at - run.started_at < datetime.timedelta(seconds=4)

    def test_a_cancel_request_stops_the_job_within_a_heartbeat(self, settings):
        settings.BATCHRUN_HEARTBEAT_INTERVAL = 0.2
        run = python_run("import time; print('waiting', flush=True); time.sleep(30)")

        def cancel():
            started = JobRun.objects.filter(pk=run.pk, pid__isnull=False)
            assert wait_for(started.exists)
            started.update(cancel_requested_at=timezone.now())

        canceller = in_thread(cancel)
        run = execute(run)
        canceller.join()

        assert run.status == JobRun.Status.KILLED
        assert run.exit_code == -signal.SIGTERM
        assert run.message == (
            "The run was cancelled: TERM was sent to its process group."
        )
        assert run.stopped_at - run.cancel_requested_at < datetime.timedelta(seconds=3)
        assert stored_output(run) == b"waiting\n"

    def test_a_run_cancelled_before_it_started_never_starts(self, tmp_path):
        marker = tmp_path / "ran"
        run = python_run(
            "import sys; open(sys.argv[1], 'w')",
            str(marker),
            cancel_requested_at=timezone.now(),
        )

        run = execute(run)

        assert run.status == JobRun.Status.KILLED
        assert run.message == "The run was cancelled before its job started."
        assert run.pid is None
        assert run.started_at is None
        assert not marker.exists()

    def test_a_run_started_already_is_not_executed_again(self, caplog, tmp_path):
        marker = tmp_path / "ran"
        run = python_run(
            "import sys; open(sys.argv[1], 'w')",
            str(marker),
            started_at=timezone.now(),
        )

        execute_job_run(run)

        assert not marker.exists()
        assert JobRun.objects.get(pk=run.pk).status == JobRun.Status.RUNNING
        assert (
            f"Run not executed: it is not a running run waiting to start: run={run.pk}"
            in [r.getMessage() for r in caplog.records]
        )


class TestLaunchFailure:
    def test_an_unknown_program_fails_to_launch(self):
        run = execute(make_run("batchrun-no-such-program", "--x"))

        assert run.status == JobRun.Status.LAUNCH_FAILED
        assert run.message == (
            "No executable 'batchrun-no-such-program' was found on PATH."
        )
        assert run.command_line == ["batchrun-no-such-program", "--x"]
        assert run.started_at is None
        assert run.stopped_at is not None
        assert run.pid is None

    def test_a_missing_path_fails_to_launch(self):
        run = execute(make_run("/nonexistent/batchrun-job"))

        assert run.status == JobRun.Status.LAUNCH_FAILED
        assert run.message == "No executable '/nonexistent/batchrun-job' was found."

    def test_a_file_without_execute_permission_fails_to_launch(self, tmp_path):
        script = tmp_path / "job.sh"
        script.write_text("#!/bin/sh\necho hi\n")
        script.chmod(0o644)

        run = execute(make_run(str(script)))

        assert run.status == JobRun.Status.LAUNCH_FAILED
        assert run.message == (
            f"Permission denied to execute '{script}'; is it executable?"
        )

    def test_a_missing_argument_fails_to_launch(self):
        run = execute(make_run("echo", "--rent-id {rent_id} {since}", {"since": 1}))

        assert run.status == JobRun.Status.LAUNCH_FAILED
        assert run.message == (
            "The command line is invalid: Missing arguments: rent_id."
        )
        assert run.command_line is None

    def test_a_bad_format_string_fails_to_launch(self):
        run = execute(make_run("echo", "{rent.id}", {"rent": 1}))

        assert run.status == JobRun.Status.LAUNCH_FAILED
        assert run.message.startswith(
            "The command line is invalid: Invalid placeholder {rent.id}"
        )


class TestJobProcess:
    def test_arguments_reach_the_job_byte_for_byte(self):
        hostile = [
            "1; rm -rf /",
            "$(id) `id` ${HOME}",
            "'quoted' \"double\"",
            "line\nbreak\ttab",
            "--x",
            "",
            "\u00e9\U0001f389",
            "x" * 10240,
        ]
        run = python_run("import json, sys; print(json.dumps(sys.argv[1:]))", *hostile)

        run = execute(run)

        assert json.loads(stored_output(run)) == hostile
        code = run.job.arguments["code"]
        assert run.command_line == [sys.executable, "-c", code, *hostile]

    def test_the_job_gets_the_run_variables(self):
        code = (
            "import json, os\n"
            "names = ['BATCHRUN_RUN_ID', 'BATCHRUN_JOB', 'BATCHRUN_SCHEDULED_FOR']\n"
            "print(json.dumps([os.environ.get(n) for n in names]))\n"
        )
        scheduled_for = datetime.datetime(2026, 3, 29, 1, 30, tzinfo=datetime.UTC)
        scheduled = python_run(code, scheduled_for=scheduled_for)
        manual = python_run(code)

        scheduled = execute(scheduled)
        manual = execute(manual)

        assert json.loads(stored_output(scheduled)) == [
            str(scheduled.pk),
            scheduled.job.name,
            "2026-03-29T01:30:00+00:00",
        ]
        assert json.loads(stored_output(manual)) == [
            str(manual.pk),
            manual.job.name,
            "",
        ]

    def test_the_job_inherits_the_executor_environment(self, monkeypatch):
        monkeypatch.setenv("BATCHRUN_TEST_INHERITED", "from the executor")

        run = execute(
            python_run("import os; print(os.environ['BATCHRUN_TEST_INHERITED'])")
        )

        assert stored_output(run) == b"from the executor\n"

    def test_stdin_is_dev_null(self):
        code = (
            "import os, sys\n"
            "print(repr(sys.stdin.read()))\n"
            "print(os.fstat(0).st_rdev == os.stat('/dev/null').st_rdev)\n"
        )

        run = execute(python_run(code))

        assert stored_output(run) == b"''\nTrue\n"

    def test_the_job_leads_its_own_session_and_process_group(self):
        code = "import os; print(os.getpid() == os.getpgid(0) == os.getsid(0))"

        run = execute(python_run(code))

        assert stored_output(run) == b"True\n"

    def test_a_timeout_stops_the_whole_process_group(self, tmp_path):
        marker = tmp_path / "grandchild"
        code = (
            "import subprocess, sys, time\n"
            "subprocess.Popen([sys.executable, '-c', 'import sys, time; "
            'time.sleep(1); open(sys.argv[1], "w")\', sys.argv[1]])\n'
            "time.sleep(30)\n"
        )
        run = python_run(code, str(marker), timeout=datetime.timedelta(seconds=0.3))

        run = execute(run)

        # Unstopped, the job's child would write its file a second after start.
        assert run.status == JobRun.Status.TIMED_OUT
        assert not wait_for(marker.exists, timeout=1.5)


class TestOutput:
    def test_stdout_and_stderr_are_stored_apart_in_order(self):
        code = (
            "import sys, time\n"
            "print('out 1', flush=True); time.sleep(0.05)\n"
            "print('err 1', file=sys.stderr, flush=True); time.sleep(0.05)\n"
            "print('out 2', flush=True)\n"
        )

        run = execute(python_run(code))

        chunks = check_chunks(run)
        assert [(c.stream, c.text) for c in chunks] == [
            (STDOUT, "out 1\n"),
            (STDERR, "err 1\n"),
            (STDOUT, "out 2\n"),
        ]
        assert (run.stdout_lines, run.stderr_lines) == (2, 1)

    def test_hostile_bytes_are_stored_exactly(self, tmp_path):
        noise = random.Random(4).randbytes(65536)
        emoji = "\U0001f389 \U00020000 \u00e9\n".encode()
        progress = b"".join(b"\r%3d%%" % n for n in range(101)) + b"\n"
        out = b"nul\x00byte\n" + noise + b"\n" + emoji + progress + b"no newline"
        err = b"\xff\xfe\\x00 not an escape\n" + noise[:1000]
        (tmp_path / "out").write_bytes(out)
        (tmp_path / "err").write_bytes(err)
        code = (
            "import os, sys\n"
            "out = open(sys.argv[1], 'rb').read()\n"
            "err = open(sys.argv[2], 'rb').read()\n"
            "os.write(1, out[:40000]); os.write(2, err[:30])\n"
            "os.write(1, out[40000:]); os.write(2, err[30:])\n"
        )

        run = execute(python_run(code, str(tmp_path / "out"), str(tmp_path / "err")))

        assert stored_output(run, STDOUT) == out
        assert stored_output(run, STDERR) == err
        assert run.output_bytes == len(out) + len(err)
        chunks = check_chunks(run)
        assert any(c.escaped for c in chunks)
        assert LogChunk.objects.filter(run=run, text__contains="\U00020000").exists()

    def test_output_over_the_cap_keeps_head_and_tail_and_counts_the_rest(
        self, settings
    ):
        settings.BATCHRUN_MAX_OUTPUT_BYTES = 100_000
        code = "for n in range(40000): print(f'line {n:06d}')"
        printed = b"".join(b"line %06d\n" % n for n in range(40000))

        run = execute(python_run(code))

        stored = stored_output(run)
        assert stored[:50_000] == printed[:50_000]
        tail = stored[50_000:]
        assert len(tail) >= 50_000
        assert printed.endswith(tail)
        assert run.status == JobRun.Status.SUCCEEDED
        assert run.output_bytes == len(printed)
        assert run.dropped_bytes == len(printed) - len(stored)
        last = LogChunk.objects.filter(run=run).order_by("seq").last()
        assert run.stdout_lines == last.first_line + last.line_count - 1
        assert re.fullmatch(
            r"The output exceeded BATCHRUN_MAX_OUTPUT_BYTES \(100000 bytes\): "
            rf"{run.dropped_bytes} bytes in the middle \(lines 4168 to \d+\) were "
            r"dropped; the first and last lines are kept\.",
            run.message,
        )

    def test_a_database_failure_is_retried_without_losing_output(
        self, monkeypatch, caplog
    ):
        real_save = log_storage.save_output
        calls = []

        def flaky_save(*args):
            calls.append(args)
            if len(calls) in (2, 3):
                raise OperationalError("server closed the connection unexpectedly")
            return real_save(*args)

        monkeypatch.setattr(log_storage, "save_output", flaky_save)
        code = (
            "import time\n"
            "for n in range(6):\n"
            "    print(n, flush=True); time.sleep(0.3)\n"
        )

        run = execute(python_run(code))

        assert run.status == JobRun.Status.SUCCEEDED
        assert stored_output(run) == b"0\n1\n2\n3\n4\n5\n"
        check_chunks(run)
        messages = [r.getMessage() for r in caplog.records]
        assert f"Cannot store the run, will retry: run={run.pk}" in messages
        assert f"Database reachable again: run={run.pk}" in messages

    def test_the_end_is_recorded_once_the_database_is_back(self, monkeypatch):
        real_save = log_storage.save_output
        failures = []

        def save_but_not_the_end_at_first(run_id, chunks, deletions, fields):
            if "status" in fields and len(failures) < 2:
                failures.append(timezone.now())
                raise OperationalError("the database system is starting up")
            return real_save(run_id, chunks, deletions, fields)

        monkeypatch.setattr(log_storage, "save_output", save_but_not_the_end_at_first)

        run = execute(python_run("print('done')"))

        assert len(failures) == 2
        assert run.status == JobRun.Status.SUCCEEDED
        assert stored_output(run) == b"done\n"
        # The stop time is the job's, not the time the database came back.
        assert run.stopped_at < failures[0] < run.heartbeat_at
        assert run.heartbeat_at - run.stopped_at > datetime.timedelta(seconds=1)

    def test_an_executor_bug_still_waits_for_the_job_and_records_its_end(
        self, monkeypatch
    ):
        def broken(self):
            raise RuntimeError("a bug")

        monkeypatch.setattr(job_running._Executor, "_save_due", broken)

        run = execute(python_run("import time; time.sleep(0.5); print('x')"))

        assert run.status == JobRun.Status.SUCCEEDED
        assert run.message == (
            "Storing the output failed (RuntimeError('a bug')); the output from "
            "then on was not stored."
        )
        assert run.stopped_at - run.started_at > datetime.timedelta(seconds=0.5)

    def test_an_unexpected_error_drops_the_output_but_records_the_end(
        self, monkeypatch, caplog
    ):
        def broken_add(self, chunk):
            raise ValueError("a bug")

        monkeypatch.setattr(OutputLog, "add", broken_add)

        run = execute(python_run("print('lost')"))

        assert run.status == JobRun.Status.SUCCEEDED
        assert run.message == (
            "Storing the output failed (ValueError('a bug')); the output from "
            "then on was not stored."
        )
        assert not LogChunk.objects.filter(run=run).exists()
        assert f"Storing the output failed, dropping the rest: run={run.pk}" in [
            r.getMessage() for r in caplog.records
        ]

    def test_a_run_deleted_while_running_stops_its_job(self, settings, caplog):
        settings.BATCHRUN_HEARTBEAT_INTERVAL = 0.2
        run = python_run("import time; print('x', flush=True); time.sleep(30)")

        def delete():
            started = JobRun.objects.filter(pk=run.pk, pid__isnull=False)
            assert wait_for(started.exists)
            started.delete()

        deleter = in_thread(delete)
        started = timezone.now()
        execute_job_run(run)
        deleter.join()

        assert timezone.now() - started < datetime.timedelta(seconds=5)
        assert not JobRun.objects.filter(pk=run.pk).exists()
        assert f"Run deleted while its job ran, stopping it: run={run.pk}" in [
            r.getMessage() for r in caplog.records
        ]
