"""The distribution: a wheel that installs and works in a clean virtualenv."""

import os
import subprocess
import sys
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.skipif(
    os.environ.get("BATCHRUN_TEST_DB", "sqlite") != "sqlite",
    reason="The wheel does not depend on the database; built on the SQLite run.",
)

CHECK_INSTALLED = """
import django
from django.conf import settings
settings.configure(
    INSTALLED_APPS=["django.contrib.auth", "django.contrib.contenttypes",
                    "django.contrib.admin", "batchrun"],
    DATABASES={"default": {"ENGINE": "django.db.backends.sqlite3",
                           "NAME": ":memory:"}},
    USE_TZ=True,
    TEMPLATES=[{"BACKEND": "django.template.backends.django.DjangoTemplates",
                "APP_DIRS": True}],
)
django.setup()
import batchrun, daemon
from django.core.management import call_command
call_command("migrate", "batchrun", verbosity=0)
from batchrun.models import ScheduledJob
import pathlib
package = pathlib.Path(batchrun.__file__).parent
for path in sorted(package.rglob("*")):
    if path.is_file() and "__pycache__" not in path.parts:
        print(path.relative_to(package))
"""


def test_wheel_installs_and_migrates_in_a_clean_virtualenv(tmp_path):
    """The wheel carries migrations and templates and pulls in its dependencies."""
    dist = tmp_path / "dist"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w", dist, "."],
        cwd=ROOT,
        check=True,
        timeout=300,
    )
    (wheel,) = dist.glob("batchrun-*.whl")
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    python = env_dir / "bin" / "python"
    subprocess.run(
        [python, "-m", "pip", "install", "--quiet", wheel],
        check=True,
        timeout=600,
    )

    result = subprocess.run(
        [python, "-c", CHECK_INSTALLED],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert result.returncode == 0, result.stderr
    installed = set(result.stdout.split())
    package = ROOT / "batchrun"
    shipped = {
        str(path.relative_to(package))
        for folder in ("migrations", "templates", "static")
        for path in (package / folder).rglob("*")
        if path.is_file() and "__pycache__" not in path.parts
    }
    assert "migrations/0001_initial.py" in shipped
    assert shipped <= installed


def test_the_readme_is_valid_restructuredtext():
    """The README is the package's long description; PyPI rejects bad markup."""
    import docutils.core
    import docutils.nodes

    document = docutils.core.publish_doctree(
        (ROOT / "README.rst").read_text(encoding="utf-8"),
        settings_overrides={"report_level": 5, "halt_level": 5},
    )

    problems = [
        message.astext()
        for message in document.findall(docutils.nodes.system_message)
        if message["level"] >= 2
    ]
    assert problems == []
