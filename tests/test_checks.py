"""The system checks of batchrun.checks, one test per message."""

import pytest
from django.db import connection

from batchrun.checks import check_database_charset, check_settings


def ids(messages) -> list[str]:
    return [message.id for message in messages]


def test_default_settings_pass():
    assert check_settings() == []


def test_e001_use_tz_false_is_an_error(settings):
    settings.USE_TZ = False

    [error] = check_settings()

    assert error.id == "batchrun.E001"
    assert error.msg == "batchrun needs aware datetimes, but USE_TZ is False."
    assert error.hint == "Set USE_TZ = True in your settings."


@pytest.mark.parametrize("value", [0, -1, "10", None, True], ids=repr)
@pytest.mark.parametrize(
    "name",
    [
        "POLL_INTERVAL",
        "GRACE_PERIOD",
        "HEARTBEAT_INTERVAL",
        "LOST_AFTER",
        "KILL_GRACE_PERIOD",
        "MAX_OUTPUT_BYTES",
    ],
)
def test_e002_setting_that_is_not_a_positive_number_is_an_error(settings, name, value):
    setattr(settings, f"BATCHRUN_{name}", value)

    errors = check_settings()

    assert ids(errors) == ["batchrun.E002"]
    assert errors[0].msg == (
        f"BATCHRUN_{name} must be a positive number, not {value!r}."
    )


def test_e002_fractional_seconds_are_fine(settings):
    settings.BATCHRUN_POLL_INTERVAL = 0.5

    assert check_settings() == []


def test_e003_lost_after_must_leave_room_for_missed_heartbeats(settings):
    settings.BATCHRUN_HEARTBEAT_INTERVAL = 5
    settings.BATCHRUN_LOST_AFTER = 10

    errors = check_settings()

    assert ids(errors) == ["batchrun.E003"]
    assert "more than twice BATCHRUN_HEARTBEAT_INTERVAL" in errors[0].msg


def test_e003_is_quiet_just_above_twice_the_interval(settings):
    settings.BATCHRUN_HEARTBEAT_INTERVAL = 5
    settings.BATCHRUN_LOST_AFTER = 10.5

    assert check_settings() == []


def test_e004_manage_py_that_is_not_a_file_is_an_error(settings, tmp_path):
    settings.BATCHRUN_MANAGE_PY = str(tmp_path / "manage.py")

    errors = check_settings()

    assert ids(errors) == ["batchrun.E004"]
    assert errors[0].msg == (
        f"BATCHRUN_MANAGE_PY names {str(tmp_path / 'manage.py')!r}, "
        "which is not a file."
    )


def test_e004_existing_manage_py_passes(settings, tmp_path):
    manage_py = tmp_path / "manage.py"
    manage_py.write_text("")
    settings.BATCHRUN_MANAGE_PY = str(manage_py)

    assert check_settings() == []


@pytest.fixture
def as_mysql(monkeypatch):
    """Make the default connection look like MySQL where it is not one."""
    if connection.vendor != "mysql":
        monkeypatch.setattr(connection, "vendor", "mysql")
    options = connection.settings_dict.setdefault("OPTIONS", {})
    monkeypatch.setitem(connection.settings_dict, "OPTIONS", dict(options))
    return connection.settings_dict["OPTIONS"]


@pytest.mark.parametrize("charset", [None, "utf8", "latin1"])
def test_w001_mysql_without_utf8mb4_is_a_warning(as_mysql, charset):
    as_mysql.pop("charset", None)
    if charset is not None:
        as_mysql["charset"] = charset

    [warning] = check_database_charset(databases=["default"])

    assert warning.id == "batchrun.W001"
    assert "without charset utf8mb4" in warning.msg
    assert warning.hint.startswith("Set DATABASES['default']['OPTIONS']['charset']")


def test_w001_mysql_with_utf8mb4_passes(as_mysql):
    as_mysql["charset"] = "utf8mb4"

    assert check_database_charset(databases=["default"]) == []


def test_w001_is_not_about_other_databases():
    if connection.vendor == "mysql":
        pytest.skip("The test database is MariaDB; W001 applies to it.")

    assert check_database_charset(databases=["default"]) == []


def test_checks_run_without_databases():
    assert check_database_charset(databases=None) == []
