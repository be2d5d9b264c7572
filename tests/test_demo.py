"""
The demo (``make demo``) in real processes, on a SQLite file of its own.

``example/demo.py`` always uses SQLite, whatever ``BATCHRUN_TEST_DB`` says:
these tests open its database with the ``sqlite3`` module, not through the
ORM.
"""

import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEMO = ROOT / "example" / "demo.py"


def _demo_env() -> dict[str, str]:
    return {
        key: value
        for key, value in os.environ.items()
        # Set by pytest-django and the test settings, not for the example.
        if key not in {"DJANGO_SETTINGS_MODULE", "BATCHRUN_TEST_SUBPROCESS"}
    }


def _set_up(database: Path) -> str:
    result = subprocess.run(
        [sys.executable, str(DEMO), "--database", str(database), "--setup-only"],
        env=_demo_env(),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


def _query(database: Path, sql: str) -> list[tuple]:
    with sqlite3.connect(database) as connection:
        return connection.execute(sql).fetchall()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _children(pid: int) -> list[int]:
    children = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        if int(stat.rpartition(")")[2].split()[1]) == pid:
            children.append(int(entry.name))
    return children


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[0] != "Z"


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


def test_setup_creates_the_user_jobs_and_schedules_once(tmp_path):
    database = tmp_path / "demo.sqlite3"

    first = _set_up(database)
    jobs = _query(
        database,
        "SELECT j.name, c.type, s.minutes FROM batchrun_job j "
        "JOIN batchrun_command c ON c.id = j.command_id "
        "JOIN batchrun_scheduledjob s ON s.job_id = j.id ORDER BY j.name",
    )
    _query(database, "UPDATE batchrun_scheduledjob SET enabled = 0")
    second = _set_up(database)
    counts = _query(
        database,
        "SELECT (SELECT COUNT(*) FROM batchrun_command), "
        "(SELECT COUNT(*) FROM batchrun_job), "
        "(SELECT COUNT(*) FROM batchrun_scheduledjob), "
        "(SELECT COUNT(*) FROM batchrun_scheduledjob WHERE enabled), "
        "(SELECT COUNT(*) FROM auth_user)",
    )
    users = _query(database, "SELECT username, is_staff, is_superuser FROM auth_user")
    scripts = _query(database, "SELECT arguments FROM batchrun_job")

    assert jobs == [
        ("demo: greet", "executable", "*"),
        ("demo: import rents (fails)", "executable", "*/2"),
        ("demo: progress bar", "executable", "*/5"),
        ("demo: run report", "django", "*/3"),
    ]
    assert counts == [(2, 4, 4, 0, 1)]
    assert users == [("admin", 1, 1)]
    assert first == second
    assert "demo: greet" in first
    assert sum("scripts" in arguments for (arguments,) in scripts) == 3


def test_demo_runs_until_sigint_and_leaves_no_process(tmp_path):
    database = tmp_path / "demo.sqlite3"
    _set_up(database)
    # No job may start while the test runs: the schedules stay disabled.
    _query(database, "UPDATE batchrun_scheduledjob SET enabled = 0")
    port = _free_port()
    log = tmp_path / "demo.log"
    argv = [sys.executable, str(DEMO), "--database", str(database)]
    with log.open("wb") as output:
        demo = subprocess.Popen(
            [*argv, "--port", str(port)],
            env=_demo_env(),
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 60
        while not _answers(f"http://127.0.0.1:{port}/admin/login/"):
            assert demo.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.2)
        children = _children(demo.pid)
        heartbeats = _query(
            database, "SELECT COUNT(*) FROM batchrun_schedulerheartbeat"
        )
        demo.send_signal(signal.SIGINT)
        status = demo.wait(timeout=30)
    finally:
        if demo.poll() is None:
            demo.kill()
            demo.wait()
    output = log.read_text()

    assert status == 0, output
    assert len(children) == 2
    assert not [pid for pid in children if _alive(pid)]
    assert f"Admin: http://127.0.0.1:{port}/admin/" in output
    assert "Password: batchrun-demo" in output
    assert "The demo stopped." in output
    assert heartbeats in ([(0,)], [(1,)])
    assert _query(database, "SELECT COUNT(*) FROM batchrun_schedulerheartbeat") == [
        (0,)
    ]
