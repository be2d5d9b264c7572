"""
Settings of batchrun, read at call time with their documented defaults.

Every setting is optional.  Read them through the functions below, never at
import time, so that ``override_settings`` and the ``settings`` fixture work.

=================================  =========  ================================
Setting                            Default    Meaning
=================================  =========  ================================
BATCHRUN_POLL_INTERVAL             10         Seconds between the scheduler's
                                              reloads of the schedules.
BATCHRUN_GRACE_PERIOD              300        Seconds an occurrence may be
                                              late and still be launched.
BATCHRUN_HEARTBEAT_INTERVAL        5          Seconds between executor and
                                              scheduler heartbeats.
BATCHRUN_LOST_AFTER                60         Seconds without an executor
                                              heartbeat before a run is lost.
BATCHRUN_KILL_GRACE_PERIOD         10         Seconds between TERM and KILL on
                                              timeout or cancel.
BATCHRUN_MAX_OUTPUT_BYTES          128 MiB    Output kept per run (head and
                                              tail); the rest is counted.
BATCHRUN_MANAGE_PY                 None       Path of the project's manage.py
                                              for Django command jobs; None
                                              runs ``python -m django``.
BATCHRUN_HEALTH_REQUIRES_AUTH      True       Whether health.json needs a
                                              user with the view permission.
=================================  =========  ================================
"""

from django.conf import settings

DEFAULTS = {
    "POLL_INTERVAL": 10.0,
    "GRACE_PERIOD": 300.0,
    "HEARTBEAT_INTERVAL": 5.0,
    "LOST_AFTER": 60.0,
    "KILL_GRACE_PERIOD": 10.0,
    "MAX_OUTPUT_BYTES": 128 * 1024 * 1024,
    "MANAGE_PY": None,
    "HEALTH_REQUIRES_AUTH": True,
}


def get_setting(name: str):
    """Return ``settings.BATCHRUN_<name>``, or its documented default."""
    return getattr(settings, f"BATCHRUN_{name}", DEFAULTS[name])


def poll_interval() -> float:
    return float(get_setting("POLL_INTERVAL"))


def grace_period() -> float:
    return float(get_setting("GRACE_PERIOD"))


def heartbeat_interval() -> float:
    return float(get_setting("HEARTBEAT_INTERVAL"))


def lost_after() -> float:
    return float(get_setting("LOST_AFTER"))


def kill_grace_period() -> float:
    return float(get_setting("KILL_GRACE_PERIOD"))


def max_output_bytes() -> int:
    return int(get_setting("MAX_OUTPUT_BYTES"))


def manage_py() -> str | None:
    return get_setting("MANAGE_PY")


def health_requires_auth() -> bool:
    return bool(get_setting("HEALTH_REQUIRES_AUTH"))
