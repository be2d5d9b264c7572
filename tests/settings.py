"""
Django settings for batchrun's test suite.

``BATCHRUN_TEST_DB`` picks the database: ``sqlite`` (the default),
``postgresql`` or ``mariadb``.  The servers' addresses can be changed with
``BATCHRUN_TEST_PG_*`` and ``BATCHRUN_TEST_MARIADB_*`` variables.
"""

import os
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent
DB = os.environ.get("BATCHRUN_TEST_DB", "sqlite")
# Lets several test runs share one machine: each names its own databases.
SUFFIX = os.environ.get("BATCHRUN_TEST_DB_SUFFIX", "")

SECRET_KEY = "batchrun-tests-only"
DEBUG = False
USE_TZ = True
TIME_ZONE = "Europe/Helsinki"
ALLOWED_HOSTS = ["*"]
ROOT_URLCONF = "tests.urls"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
STATIC_URL = "/static/"

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "batchrun",
    # Management commands that the executor tests run as jobs.
    "tests.jobs_app",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
]

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

if DB == "sqlite":
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": BASE_DIR / f"batchrun-tests{SUFFIX}.sqlite3",
            "OPTIONS": {
                "transaction_mode": "IMMEDIATE",
                "timeout": 20,
                "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
            },
            # A file, not :memory:, so that scheduler and executor processes
            # started by the tests share the test database.
            "TEST": {"NAME": BASE_DIR / f"batchrun-tests-db{SUFFIX}.sqlite3"},
        }
    }
elif DB == "postgresql":
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": "batchrun",
            "HOST": os.environ.get("BATCHRUN_TEST_PG_HOST", "127.0.0.1"),
            "PORT": os.environ.get("BATCHRUN_TEST_PG_PORT", "5432"),
            "USER": os.environ.get("BATCHRUN_TEST_PG_USER", "postgres"),
            "PASSWORD": os.environ.get("BATCHRUN_TEST_PG_PASSWORD", ""),
            "TEST": {"NAME": f"test_batchrun{SUFFIX}"},
        }
    }
elif DB == "mariadb":
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.mysql",
            "NAME": "batchrun",
            "HOST": os.environ.get("BATCHRUN_TEST_MARIADB_HOST", "127.0.0.1"),
            "PORT": os.environ.get("BATCHRUN_TEST_MARIADB_PORT", "3306"),
            "USER": os.environ.get("BATCHRUN_TEST_MARIADB_USER", "root"),
            "PASSWORD": os.environ.get("BATCHRUN_TEST_MARIADB_PASSWORD", ""),
            "OPTIONS": {"charset": "utf8mb4"},
            "TEST": {
                "NAME": f"test_batchrun{SUFFIX}",
                "CHARSET": "utf8mb4",
                "COLLATION": "utf8mb4_unicode_ci",
            },
        }
    }
else:
    raise RuntimeError(
        f"BATCHRUN_TEST_DB is {DB!r}; use sqlite, postgresql or mariadb."
    )

BATCHRUN_POLL_INTERVAL = 1
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "loggers": {"batchrun": {"handlers": ["console"], "level": "WARNING"}},
}

# Scheduler and executor processes started by the tests connect to the test
# database that pytest-django created, not to the development one.
if os.environ.get("BATCHRUN_TEST_SUBPROCESS") == "1":
    DATABASES["default"]["NAME"] = DATABASES["default"]["TEST"]["NAME"]

# Processes started by the tests may get other batchrun timings or caps,
# e.g. BATCHRUN_TEST_HEARTBEAT_INTERVAL=0.2 to see heartbeats quickly.
for _name in (
    "HEARTBEAT_INTERVAL",
    "LOST_AFTER",
    "KILL_GRACE_PERIOD",
    "MAX_OUTPUT_BYTES",
):
    if f"BATCHRUN_TEST_{_name}" in os.environ:
        globals()[f"BATCHRUN_{_name}"] = float(os.environ[f"BATCHRUN_TEST_{_name}"])
