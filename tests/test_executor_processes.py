"""
Tests of the executor as a process: ``batchrun_execute_job_run`` run for real.

These start the command in a subprocess against the test database, as a
launcher does, to see what only a process shows: output appearing while the
job runs, bounded memory, a killed executor's run becoming lost, Django
command jobs finding the project's settings, an interrupted executor.
"""

import hashlib
import json
import os
import signal
import subprocess
import sys
import time

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from batchrun.lost_runs import mark_lost_runs
from batchrun.models import Command, JobRun, LogChunk
from batchrun.output_text import decode_output

from .conftest import ROOT
from .executor_helpers import (
    check_chunks,
    kill_group,
    make_run,
    python_run,
    stored_output,
    wait_for,
)

pytestmark = pytest.mark.slow

# Prints the largest resident set size of the command it runs, in KiB.
MEASURE = (
    "import resource, subprocess, sys\n"
    "code = subprocess.call(sys.argv[1:])\n"
    "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n"
    "sys.exit(code)\n"
)


def executor_command(run: JobRun) -> list[str]:
    return [sys.executable, "-m", "django", "batchrun_execute_job_run", str(run.pk)]


def run_executor(run: JobRun, env: dict, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(
        executor_command(run),
        env=env,
        cwd=ROOT,
        capture_output=True,
        timeout=120,
        check=False,
        **kwargs,
    )


def peak_rss_kib(run: JobRun, env: dict) -> int:
    """Execute a run in a child process; return its peak RSS in KiB."""
    done = subprocess.run(
        [sys.executable, "-c", MEASURE, *executor_command(run)],
        env=env,
        cwd=ROOT,
        capture_output=True,
        timeout=120,
        check=True,
    )
    return int(done.stdout.split()[-1])


@pytest.mark.django_db(transaction=True)
class TestCommand:
    def test_an_unknown_run_is_an_error(self):
        with pytest.raises(CommandError, match=r"^Run 12345 does not exist\.$"):
            call_command("batchrun_execute_job_run", "12345")

    def test_a_finished_run_is_an_error(self):
        run = python_run("pass", status=JobRun.Status.FAILED)

        with pytest.raises(
            CommandError,
            match=rf"^Run {run.pk} has status failed; only a running run that "
            r"has not started yet can be executed\.$",
        ):
            call_command("batchrun_execute_job_run", str(run.pk))

    def test_a_started_run_is_an_error(self):
        run = python_run("pass", started_at=timezone.now())

        with pytest.raises(CommandError, match=r"started already, at .*; a run is"):
            call_command("batchrun_execute_job_run", str(run.pk))

    def test_the_command_exits_0_whatever_the_job_does(self, subprocess_env):
        run = python_run("import sys; print('bad'); sys.exit(3)")

        done = run_executor(run, subprocess_env)

        assert done.returncode == 0
        assert done.stdout == f"Run {run.pk} ended: failed.\n".encode()
        run.refresh_from_db()
        assert (run.status, run.exit_code) == (JobRun.Status.FAILED, 3)
        assert stored_output(run) == b"bad\n"


def test_output_and_heartbeats_appear_while_the_job_runs(subprocess_env, tmp_path):
    release = tmp_path / "release"
    code = (
        "import os, sys, time\n"
        "print(time.time(), flush=True)\n"
        "time.sleep(0.5)\n"
        "sys.stdout.write('progress 50%'); sys.stdout.flush()\n"
        "deadline = time.time() + 20\n"
        "while not os.path.exists(sys.argv[1]) and time.time() < deadline:\n"
        "    time.sleep(0.05)\n"
        "print(' done')\n"
    )
    run = python_run(code, str(release))
    env = {**subprocess_env, "BATCHRUN_TEST_HEARTBEAT_INTERVAL": "0.2"}
    executor = subprocess.Popen(executor_command(run), env=env, cwd=ROOT)
    try:
        first = wait_for(
            lambda: LogChunk.objects.filter(run=run, seq=0).first(), timeout=15
        )
        seen_at = time.time()
        piece = wait_for(
            lambda: LogChunk.objects.filter(run=run, seq=1).first(), timeout=5
        )
        piece_seen_at = time.time()
        beat = JobRun.objects.get(pk=run.pk).heartbeat_at
        later_beat = wait_for(
            lambda: JobRun.objects.get(pk=run.pk).heartbeat_at > beat, timeout=5
        )
        release.touch()
        assert executor.wait(timeout=30) == 0
    finally:
        executor.kill()
        executor.wait()

    printed_at = float(first.text)
    assert seen_at - printed_at < 1.5
    assert piece.text == "progress 50%"
    assert piece_seen_at - (printed_at + 0.5) < 1.5
    assert later_beat
    run.refresh_from_db()
    assert run.status == JobRun.Status.SUCCEEDED
    assert stored_output(run) == first.text.encode() + b"progress 50% done\n"


def test_a_64_mib_line_is_stored_exactly_in_bounded_memory(subprocess_env):
    block = bytes(range(256)) * 4096
    code = (
        "import os\n"
        "block = bytes(range(256)) * 4096\n"
        "for _ in range(64):\n"
        "    os.write(1, block)\n"
    )
    small = python_run("print('small')")
    large = python_run(code)

    baseline = peak_rss_kib(small, subprocess_env)
    peak = peak_rss_kib(large, subprocess_env)

    large.refresh_from_db()
    assert large.status == JobRun.Status.SUCCEEDED
    assert large.output_bytes == 64 * len(block)
    digest = hashlib.sha256()
    for chunk in LogChunk.objects.filter(run=large).order_by("seq").iterator():
        digest.update(decode_output(chunk.text, chunk.escaped))
    assert digest.hexdigest() == hashlib.sha256(block * 64).hexdigest()
    assert len(check_chunks(large)) >= 64
    # Holding the line would take 64 MiB more; the executor holds at most
    # about 10 MiB of output at a time.
    assert peak - baseline < 48 * 1024, (baseline, peak)


def test_output_over_a_small_cap_keeps_memory_and_rows_bounded(subprocess_env):
    code = (
        "import os\n"
        "block = b''.join(b'%09d\\n' % n for n in range(104858))\n"
        "for _ in range(256):\n"
        "    os.write(1, block)\n"
    )
    small = python_run("print('small')")
    large = python_run(code)
    env = {**subprocess_env, "BATCHRUN_TEST_MAX_OUTPUT_BYTES": str(1024 * 1024)}

    baseline = peak_rss_kib(small, env)
    peak = peak_rss_kib(large, env)

    large.refresh_from_db()
    printed = 256 * 104858 * 10
    stored = stored_output(large)
    assert large.output_bytes == printed
    assert large.dropped_bytes == printed - len(stored)
    assert 1024 * 1024 <= len(stored) <= 3 * 1024 * 1024
    assert large.stdout_lines >= 256 * 104858
    assert peak - baseline < 48 * 1024, (baseline, peak)


def test_a_killed_executor_leaves_its_run_lost_with_its_output(
    subprocess_env, settings
):
    settings.BATCHRUN_LOST_AFTER = 1.5
    run = python_run("import time; print('working', flush=True); time.sleep(60)")
    env = {
        **subprocess_env,
        "BATCHRUN_TEST_HEARTBEAT_INTERVAL": "0.2",
        "BATCHRUN_TEST_LOST_AFTER": "1.5",
    }
    executor = subprocess.Popen(executor_command(run), env=env, cwd=ROOT)
    try:
        assert wait_for(LogChunk.objects.filter(run=run).exists, timeout=15)
        executor.send_signal(signal.SIGKILL)
        executor.wait(timeout=10)
        run.refresh_from_db()
        assert mark_lost_runs() == 0

        assert wait_for(mark_lost_runs, timeout=5) == 1
    finally:
        executor.kill()
        executor.wait()
        kill_group(JobRun.objects.get(pk=run.pk).pid)

    lost = JobRun.objects.get(pk=run.pk)
    assert lost.status == JobRun.Status.LOST
    assert lost.stopped_at == run.heartbeat_at
    assert lost.message.startswith(
        "The executor stopped sending heartbeats: none since "
        f"{run.heartbeat_at.isoformat()}, more than 1.5 seconds before "
    )
    assert stored_output(lost) == b"working\n"
    assert mark_lost_runs() == 0


def test_an_interrupted_executor_stops_its_job_and_records_it(subprocess_env):
    run = python_run("import time; print('working', flush=True); time.sleep(60)")
    executor = subprocess.Popen(
        executor_command(run), env=subprocess_env, cwd=ROOT, stderr=subprocess.PIPE
    )
    try:
        assert wait_for(LogChunk.objects.filter(run=run).exists, timeout=15)
        executor.send_signal(signal.SIGINT)
        _out, err = executor.communicate(timeout=20)
    finally:
        executor.kill()
        executor.wait()
        kill_group(JobRun.objects.get(pk=run.pk).pid)

    run.refresh_from_db()
    assert run.status == JobRun.Status.KILLED
    assert run.exit_code == -signal.SIGTERM
    assert run.message == (
        "The executor was interrupted: TERM was sent to its process group."
    )
    assert b"Executor interrupted, stopping the job" in err


@pytest.mark.parametrize("use_manage_py", [False, True], ids=["-m django", "manage.py"])
def test_a_django_command_job_runs_with_the_project_settings(
    subprocess_env, tmp_path, use_manage_py
):
    manage_py = tmp_path / "manage.py"
    manage_py.write_text(
        "import sys\n"
        "from django.core.management import execute_from_command_line\n"
        "execute_from_command_line(sys.argv)\n"
    )
    run = make_run(
        "batchrun_test_report",
        "{first} {second}",
        {"first": "a b", "second": "c;d"},
        command_type=Command.Type.DJANGO,
    )
    # The executor imports the settings through its sys.path alone, from a
    # directory where they cannot be found, so the job gets them only if
    # the executor passes its path on.
    env = {k: v for k, v in subprocess_env.items() if k != "PYTHONPATH"}
    if use_manage_py:
        env["BATCHRUN_TEST_MANAGE_PY"] = str(manage_py)
    bootstrap = (
        "import os, sys\n"
        f"sys.path.insert(0, {str(ROOT)!r})\n"
        "from django.conf import settings\n"
        "from django.core.management import execute_from_command_line\n"
        "manage_py = os.environ.get('BATCHRUN_TEST_MANAGE_PY')\n"
        "if manage_py:\n"
        "    settings.BATCHRUN_MANAGE_PY = manage_py\n"
        "execute_from_command_line(['executor', *sys.argv[1:]])\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", bootstrap, "batchrun_execute_job_run", str(run.pk)],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        timeout=60,
        check=False,
    )

    assert done.returncode == 0, done.stderr
    run.refresh_from_db()
    assert run.status == JobRun.Status.SUCCEEDED, stored_output(run)
    prefix = (
        [sys.executable, str(manage_py)]
        if use_manage_py
        else [
            sys.executable,
            "-m",
            "django",
        ]
    )
    assert run.command_line == [*prefix, "batchrun_test_report", "a b", "c;d"]
    assert json.loads(stored_output(run)) == {
        "words": ["a b", "c;d"],
        "settings_module": "tests.settings",
        "executable": sys.executable,
        "run_id": str(run.pk),
        "job": run.job.name,
    }
    assert not os.path.exists(tmp_path / "tests")
