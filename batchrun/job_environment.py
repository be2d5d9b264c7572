"""
Build the environment a job's process starts with.

A job inherits the executor's environment, plus:

``BATCHRUN_RUN_ID``
    the id of its run;
``BATCHRUN_JOB``
    the name of its job;
``BATCHRUN_SCHEDULED_FOR``
    the occurrence it runs for, in ISO 8601 with offset, or empty for a
    manual run.

A Django management command job is started with the scheduler's Python
(``python -m django NAME``, or ``python MANAGE_PY NAME`` when
``BATCHRUN_MANAGE_PY`` is set), so it must find the same settings: it gets
``DJANGO_SETTINGS_MODULE`` of the running project and a ``PYTHONPATH``
that starts with the directories the scheduler imports from which are
neither the standard library nor site-packages (the project's directory,
where its settings module lies).  A project installed from a wheel needs
none of this, and it does no harm there.
"""

import os
import site
import sys
import sysconfig

from django.conf import settings

from .models import Command, JobRun


def get_job_environment(run: JobRun) -> dict[str, str]:
    """Return the environment variables for the job process of a run."""
    env = dict(os.environ)
    env["BATCHRUN_RUN_ID"] = str(run.pk)
    env["BATCHRUN_JOB"] = run.job.name
    scheduled_for = run.scheduled_for
    env["BATCHRUN_SCHEDULED_FOR"] = scheduled_for.isoformat() if scheduled_for else ""
    if run.job.command.type == Command.Type.DJANGO:
        add_django_settings(env)
    return env


def add_django_settings(env: dict[str, str]) -> None:
    """Let a new Python started with ``env`` find this project's settings."""
    settings_module = getattr(settings, "SETTINGS_MODULE", None)
    if settings_module:
        env["DJANGO_SETTINGS_MODULE"] = settings_module
    paths = get_project_paths()
    paths += [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
    if paths:
        env["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(paths))


def get_project_paths() -> list[str]:
    """Return the directories on sys.path outside the stdlib and site-packages."""
    excluded = [
        os.path.realpath(path)
        for path in (
            *(sysconfig.get_paths()[name] for name in ("stdlib", "platstdlib")),
            *(sysconfig.get_paths()[name] for name in ("purelib", "platlib")),
            *site.getsitepackages(),
            site.getusersitepackages(),
        )
    ]
    paths = []
    for entry in sys.path:
        path = os.path.abspath(entry or os.curdir)
        if not os.path.isdir(path):
            continue
        real = os.path.realpath(path)
        parts = real.split(os.sep)
        if "site-packages" in parts or "dist-packages" in parts:
            continue
        if any(_is_within(real, root) for root in excluded):
            continue
        paths.append(path)
    return paths


def _is_within(path: str, root: str) -> bool:
    try:
        return os.path.commonpath([path, root]) == root
    except ValueError:
        return False
