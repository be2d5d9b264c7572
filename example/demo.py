"""
Run batchrun's demo: the scheduler and the admin on SQLite, until Ctrl-C.

The setup migrates the example project's database, creates the admin user
and a few demo jobs (see ``demo_jobs/demo_data.py``); all of it is
idempotent.  Then ``batchrun_scheduler`` and ``runserver`` run side by side
in process groups of their own, so that Ctrl-C reaches this script only,
which passes one SIGINT on to each and waits until both have stopped.
Usage::

    python example/demo.py [--database PATH] [--port PORT] [--setup-only]
"""

import argparse
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

EXAMPLE = Path(__file__).resolve().parent
MANAGE_PY = EXAMPLE / "manage.py"
STOP_TIMEOUT = 20.0


def main() -> int:
    options = parse_arguments()
    os.environ["EXAMPLE_DB"] = str(Path(options.database).resolve())
    os.environ["DJANGO_SETTINGS_MODULE"] = "example_project.settings"
    password = set_up()
    if options.setup_only:
        return 0
    url = f"http://127.0.0.1:{options.port}/admin/"
    print(f"\nAdmin: {url}\nUser: admin\nPassword: {password}", flush=True)
    print("Stop the scheduler and the server with Ctrl-C.\n", flush=True)
    return run_processes(options.port)


def parse_arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--database",
        default=os.environ.get("EXAMPLE_DB", str(EXAMPLE / "db.sqlite3")),
        help="The SQLite file (default: $EXAMPLE_DB or example/db.sqlite3).",
    )
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument(
        "--setup-only",
        action="store_true",
        help="Migrate and create the user and the jobs, then exit.",
    )
    return parser.parse_args()


def set_up() -> str:
    """Migrate, create the admin user and the demo jobs; return the password."""
    sys.path.insert(0, str(EXAMPLE))
    import django

    django.setup()
    from demo_jobs.demo_data import create_admin_user, create_demo_jobs
    from django.core.management import call_command
    from django.db import connections

    call_command("migrate", interactive=False, verbosity=0)
    password = create_admin_user()
    jobs = create_demo_jobs()
    connections.close_all()
    print(f"Database {os.environ['EXAMPLE_DB']} is ready.")
    for job in jobs:
        print(f"  job {job.name!r}: {job.comment}")
    return password


def run_processes(port: int) -> int:
    """Run the scheduler and the web server until a signal; return the status."""
    stop_signals = []

    def on_signal(signum, frame):
        stop_signals.append(signum)

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    manage = [sys.executable, str(MANAGE_PY)]
    processes = {
        "scheduler": start([*manage, "batchrun_scheduler", "--verbosity", "1"]),
        "web server": start([*manage, "runserver", "--noreload", f"127.0.0.1:{port}"]),
    }
    ended = None
    while not stop_signals and ended is None:
        ended = next(
            (name for name, p in processes.items() if p.poll() is not None), None
        )
        time.sleep(0.2)
    if ended is not None:
        print(f"The {ended} stopped unexpectedly; stopping the demo.", flush=True)
    statuses = stop(processes)
    failed = {name: code for name, code in statuses.items() if code != 0}
    if ended is None and not failed:
        print("The demo stopped.", flush=True)
        return 0
    for name, code in failed.items():
        print(f"The {name} exited with status {code}.", flush=True)
    return 1


def start(argv: list[str]) -> subprocess.Popen:
    # A process group of its own: a terminal's Ctrl-C reaches only the demo,
    # which passes it on once; a second SIGINT would make the scheduler
    # exit at once instead of cleanly.
    return subprocess.Popen(argv, cwd=EXAMPLE, process_group=0)


def stop(processes: dict[str, subprocess.Popen]) -> dict[str, int]:
    """Send SIGINT to the processes still running; return their statuses."""
    for process in processes.values():
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
    deadline = time.monotonic() + STOP_TIMEOUT
    statuses = {}
    for name, process in processes.items():
        try:
            statuses[name] = process.wait(max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            print(f"The {name} did not stop; killing it.", flush=True)
            process.kill()
            statuses[name] = process.wait()
    return statuses


if __name__ == "__main__":
    sys.exit(main())
