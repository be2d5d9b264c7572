"""GET /batchrun/health.json: is a scheduler alive, for probes and people."""

import datetime

import pytest
from django.utils import timezone

from batchrun.models import JobRun, SchedulerHeartbeat
from tests.api_factories import make_job, make_run, make_user

pytestmark = pytest.mark.django_db

URL = "/batchrun/health.json"


@pytest.fixture
def reader(client):
    client.force_login(make_user())
    return client


@pytest.fixture(autouse=True)
def _intervals(settings):
    settings.BATCHRUN_POLL_INTERVAL = 10
    settings.BATCHRUN_HEARTBEAT_INTERVAL = 5


def beat(seconds_ago: float, host: str = "web-1", pid: int = 100):
    now = timezone.now()
    return SchedulerHeartbeat.objects.create(
        host=host,
        pid=pid,
        started_at=now - datetime.timedelta(hours=1),
        last_seen_at=now - datetime.timedelta(seconds=seconds_ago),
    )


def test_a_recent_heartbeat_is_healthy(reader):
    beat(2)

    response = reader.get(URL)

    assert response.status_code == 200
    data = response.json()
    assert data["healthy"] is True
    assert data["stale_after"] == 30.0
    (scheduler,) = data["schedulers"]
    assert (scheduler["host"], scheduler["pid"], scheduler["alive"]) == (
        "web-1",
        100,
        True,
    )
    assert 2 <= scheduler["age"] < 10


def test_no_scheduler_is_a_503_that_says_what_to_do(reader):
    response = reader.get(URL)

    assert response.status_code == 503
    assert response.json()["error"] == (
        "No scheduler has sent a heartbeat in the last 30 seconds; start "
        "batchrun_scheduler or check its log."
    )


def test_only_stale_heartbeats_are_a_503(reader):
    beat(31, pid=1)
    beat(3600, pid=2)

    response = reader.get(URL)

    assert response.status_code == 503
    assert [(s["pid"], s["alive"]) for s in response.json()["schedulers"]] == [
        (1, False),
        (2, False),
    ]


def test_one_live_scheduler_among_dead_ones_is_healthy(reader):
    beat(600, host="old", pid=1)
    beat(1, host="new", pid=2)

    response = reader.get(URL)

    assert response.status_code == 200
    assert [s["host"] for s in response.json()["schedulers"]] == ["new", "old"]


@pytest.mark.parametrize(
    ("poll", "heartbeat", "age", "status"),
    [(1, 0.2, 2.5, 200), (1, 0.2, 3.5, 503), (1, 5, 14, 200), (1, 5, 16, 503)],
    ids=[
        "three-polls-pass",
        "beyond-three-polls-fails",
        "slow-heartbeat-widens-the-window",
        "beyond-three-heartbeats-fails",
    ],
)
def test_the_window_is_three_poll_or_heartbeat_intervals(
    reader, settings, poll, heartbeat, age, status
):
    settings.BATCHRUN_POLL_INTERVAL = poll
    settings.BATCHRUN_HEARTBEAT_INTERVAL = heartbeat
    beat(age)

    assert reader.get(URL).status_code == status


def test_counts_running_runs_and_lost_and_skipped_runs_of_the_last_day(reader):
    beat(1)
    job = make_job()
    now = timezone.now()
    day_ago = now - datetime.timedelta(days=1, minutes=5)
    recent = {"created_at": now - datetime.timedelta(hours=2)}
    old = {"created_at": day_ago}
    make_run(job, status="running", stopped_at=None, **old)
    make_run(job, status="running", stopped_at=None, **recent)
    make_run(job, status="lost", stopped_at=None, **recent)
    make_run(job, status="lost", stopped_at=None, **old)
    # Started long ago, found lost an hour ago.
    make_run(job, status="lost", stopped_at=now - datetime.timedelta(hours=1), **old)
    make_run(job, status="skipped", started_at=None, **recent)
    make_run(job, status="skipped", started_at=None, **old)
    make_run(job, status="failed", **recent)

    data = reader.get(URL).json()

    assert (
        data["running_runs"],
        data["lost_runs_last_day"],
        data["skipped_runs_last_day"],
    ) == (2, 2, 1)


def test_the_body_holds_no_output_or_arguments(reader):
    beat(1)
    make_run(make_job(rent_id="secret-123"), status="running", stopped_at=None)

    body = reader.get(URL).content.decode()

    assert "secret-123" not in body
    assert "send_invoices" not in body
    assert sorted(reader.get(URL).json()) == [
        "checked_at",
        "healthy",
        "lost_runs_last_day",
        "running_runs",
        "schedulers",
        "skipped_runs_last_day",
        "stale_after",
    ]


def test_anonymous_probes_need_the_setting(client, settings):
    beat(1)

    refused = client.get(URL)
    settings.BATCHRUN_HEALTH_REQUIRES_AUTH = False
    allowed = client.get(URL)

    assert refused.status_code == 401
    assert allowed.status_code == 200
    assert allowed.json()["healthy"] is True


def test_without_auth_other_methods_are_still_refused(client, settings):
    settings.BATCHRUN_HEALTH_REQUIRES_AUTH = False

    response = client.post(URL)

    assert response.status_code == 405
    assert response["Allow"] == "GET, HEAD"


def test_a_probe_costs_two_queries_besides_authentication(
    reader, django_assert_num_queries
):
    for pid in range(80):
        beat(pid, pid=pid)
    make_run(make_job(), status=JobRun.Status.RUNNING, stopped_at=None)

    # Session, user, the user's and the groups' permissions, then the
    # heartbeats and one count of runs.
    with django_assert_num_queries(6):
        response = reader.get(URL)

    assert len(response.json()["schedulers"]) == 50
