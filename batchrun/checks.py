"""System checks that report batchrun misconfiguration at start-up."""

import os

from django.conf import settings
from django.core.checks import Error, Tags, Warning, register

from . import conf

_POSITIVE_NUMBERS = [
    "POLL_INTERVAL",
    "GRACE_PERIOD",
    "HEARTBEAT_INTERVAL",
    "LOST_AFTER",
    "KILL_GRACE_PERIOD",
    "MAX_OUTPUT_BYTES",
]


@register(Tags.compatibility)
def check_settings(app_configs=None, **kwargs):
    errors = []
    if not settings.USE_TZ:
        errors.append(
            Error(
                "batchrun needs aware datetimes, but USE_TZ is False.",
                hint="Set USE_TZ = True in your settings.",
                id="batchrun.E001",
            )
        )
    for name in _POSITIVE_NUMBERS:
        value = conf.get_setting(name)
        if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
            errors.append(
                Error(
                    f"BATCHRUN_{name} must be a positive number, not {value!r}.",
                    hint=f"Remove it to use the default, {conf.DEFAULTS[name]!r}.",
                    id="batchrun.E002",
                )
            )
    if not errors and conf.lost_after() <= 2 * conf.heartbeat_interval():
        errors.append(
            Error(
                "BATCHRUN_LOST_AFTER must be more than twice "
                "BATCHRUN_HEARTBEAT_INTERVAL, or live runs would be marked lost.",
                hint="Raise BATCHRUN_LOST_AFTER or lower the heartbeat interval.",
                id="batchrun.E003",
            )
        )
    manage_py = conf.manage_py()
    if manage_py is not None and not os.path.isfile(manage_py):
        errors.append(
            Error(
                f"BATCHRUN_MANAGE_PY names {manage_py!r}, which is not a file.",
                hint="Give the absolute path of the project's manage.py, or "
                "remove the setting to run Django commands with python -m django.",
                id="batchrun.E004",
            )
        )
    return errors


@register(Tags.database)
def check_database_charset(app_configs=None, databases=None, **kwargs):
    from django.db import connections

    warnings = []
    for alias in databases or []:
        connection = connections[alias]
        if connection.vendor != "mysql":
            continue
        charset = connection.settings_dict.get("OPTIONS", {}).get("charset", "")
        if charset != "utf8mb4":
            warnings.append(
                Warning(
                    f"Database {alias!r} is MySQL or MariaDB without charset "
                    "utf8mb4; job output holding 4-byte characters (emoji) "
                    "would be rejected.",
                    hint=f"Set DATABASES[{alias!r}]['OPTIONS']['charset'] = "
                    "'utf8mb4' and use a utf8mb4 database.",
                    id="batchrun.W001",
                )
            )
    return warnings
