"""
Create the demo's admin user, commands, jobs and schedules, idempotently.

Running it again leaves what is there alone: a schedule disabled or edited
in the admin stays so, and a changed password is not reset.  Only the paths
of the Python interpreter and of the scripts are brought up to date, so the
demo still works after the checkout or the virtualenv moved.
"""

import dataclasses
import sys
from pathlib import Path

from django.contrib.auth import get_user_model

from batchrun.models import Command, Job, ScheduledJob

SCRIPTS = Path(__file__).resolve().parent / "scripts"
USERNAME = "admin"
PASSWORD = "batchrun-demo"


@dataclasses.dataclass(frozen=True)
class DemoJob:
    name: str
    minutes: str
    comment: str
    script: str = ""
    management_command: str = ""
    overlap_policy: str = Job.OverlapPolicy.ALLOW


DEMO_JOBS = [
    DemoJob(
        "demo: greet",
        "*",
        "Prints to stdout and stderr every minute.",
        script="greet.py",
    ),
    DemoJob(
        "demo: import rents (fails)",
        "*/2",
        "Fails with exit status 3 every two minutes.",
        script="fail.py",
    ),
    DemoJob(
        "demo: progress bar",
        "*/5",
        "Runs about 40 seconds, drawing a progress bar with carriage returns.",
        script="progress.py",
        overlap_policy=Job.OverlapPolicy.SKIP,
    ),
    DemoJob(
        "demo: run report",
        "*/3",
        "The Django management command demo_report, every three minutes.",
        management_command="demo_report",
    ),
]


def create_admin_user() -> str:
    """Create the demo superuser if missing; return the password to show."""
    user, created = get_user_model().objects.get_or_create(
        username=USERNAME,
        defaults={"is_staff": True, "is_superuser": True, "email": ""},
    )
    if created:
        user.set_password(PASSWORD)
        user.save(update_fields=["password"])
        return PASSWORD
    if user.check_password(PASSWORD):
        return PASSWORD
    return "(changed since the demo created it)"


def create_demo_jobs() -> list[Job]:
    """Create the demo jobs and their schedules; return the jobs."""
    python, _ = Command.objects.update_or_create(
        type=Command.Type.EXECUTABLE,
        parameter_format_string="{script}",
        comment="The demo's Python scripts.",
        defaults={"name": sys.executable},
    )
    report, _ = Command.objects.get_or_create(
        type=Command.Type.DJANGO,
        name="demo_report",
        defaults={"parameter_format_string": "--hours {hours}"},
    )
    jobs = []
    for demo in DEMO_JOBS:
        if demo.script:
            command, arguments = python, {"script": str(SCRIPTS / demo.script)}
        else:
            command, arguments = report, {"hours": 24}
        job, created = Job.objects.get_or_create(
            name=demo.name,
            defaults={
                "command": command,
                "arguments": arguments,
                "comment": demo.comment,
                "overlap_policy": demo.overlap_policy,
            },
        )
        if not created and job.command == python and job.arguments != arguments:
            job.arguments = arguments
            job.save(update_fields=["arguments"])
        if not job.schedules.exists():
            ScheduledJob.objects.create(job=job, minutes=demo.minutes)
        jobs.append(job)
    return jobs
