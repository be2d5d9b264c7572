"""
Fixtures shared by the whole suite.

Process tests start real scheduler and executor processes with the
``subprocess_env`` fixture, which points them at the test database.
"""

import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def subprocess_env(transactional_db):
    """Return the environment for a batchrun process using the test database."""
    env = dict(os.environ)
    env["DJANGO_SETTINGS_MODULE"] = "tests.settings"
    env["BATCHRUN_TEST_SUBPROCESS"] = "1"
    env["PYTHONPATH"] = os.pathsep.join(
        [str(ROOT), *filter(None, [env.get("PYTHONPATH")])]
    )
    return env


@pytest.fixture
def manage_command():
    """Return the argv prefix that runs ``django-admin`` for the test settings."""
    return [sys.executable, "-m", "django"]
