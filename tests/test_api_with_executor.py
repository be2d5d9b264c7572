"""The JSON API over output stored by the real executor, read while it runs."""

import threading
import time

import pytest
from django.db import connection

from batchrun.job_running import execute_job_run
from batchrun.models import JobRun
from tests.api_factories import make_user
from tests.executor_helpers import STDERR, STDOUT, python_run, stored_output
from tests.test_runlog import follow, stream_bytes

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

MIXED_OUTPUT = r"""
import sys, time
out, err = sys.stdout.buffer, sys.stderr.buffer
out.write(b"header\n"); out.flush()
err.write(b"warning: caf\xc3\xa9 \xff\x00\n"); err.flush()
out.write(b"progress 10%"); out.flush()
time.sleep(0.7)
out.write(b"\r100%\nlast line without newline"); out.flush()
"""

FOLLOWED_JOB = r"""
import os, sys, time
sys.stdout.write("step 1\nstep 2: copying"); sys.stdout.flush()
deadline = time.monotonic() + 20
while not os.path.exists(sys.argv[1]) and time.monotonic() < deadline:
    time.sleep(0.05)
sys.stdout.write(" done\nstep 3\n"); sys.stdout.flush()
"""


@pytest.fixture
def reader(client):
    client.force_login(make_user())
    return client


def test_small_pages_of_real_output_rebuild_both_streams(reader):
    run = python_run(MIXED_OUTPUT)
    execute_job_run(run)

    entries = follow(reader, f"/batchrun/runlogs/{run.pk}.json?limit=2")
    download = reader.get(f"/batchrun/runlogs/{run.pk}.txt")

    assert stream_bytes(entries, "stdout") == (
        b"header\nprogress 10%\r100%\nlast line without newline"
    )
    assert stream_bytes(entries, "stderr") == b"warning: caf\xc3\xa9 \xff\x00\n"
    assert stored_output(run, STDOUT) == stream_bytes(entries, "stdout")
    assert stored_output(run, STDERR) == stream_bytes(entries, "stderr")
    assert b"".join(download.streaming_content) == stored_output(run)
    assert [e["text"] for e in entries if e["stream"] == "stdout"][-1:] == [
        "last line without newline"
    ]


def test_a_client_following_a_run_sees_the_open_line_then_its_end(reader, tmp_path):
    release = tmp_path / "release"
    run = python_run(FOLLOWED_JOB, str(release))
    thread = threading.Thread(target=_execute, args=[run])
    thread.start()
    try:
        seen, next_url = [], f"/batchrun/runlogs/{run.pk}.json"
        deadline = time.monotonic() + 20
        while next_url and time.monotonic() < deadline:
            data = reader.get(next_url).json()
            seen += data["entries"]
            next_url = data["next"]
            if any(not entry["complete"] for entry in seen):
                release.touch()
            time.sleep(0.1)
    finally:
        release.touch()
        thread.join(timeout=30)

    assert next_url is None
    assert JobRun.objects.get(pk=run.pk).status == JobRun.Status.SUCCEEDED
    texts = [(e["text"], e["complete"], e["continues"]) for e in seen]
    assert texts == [
        ("step 1", True, False),
        ("step 2: copying", False, False),
        (" done", True, True),
        ("step 3", True, False),
    ]


def _execute(run: JobRun) -> None:
    try:
        execute_job_run(run)
    finally:
        connection.close()
