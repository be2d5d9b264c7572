"""
Tests of batchrun.scheduler driven pass by pass, in frozen time.

Launching is injected: the runs a pass hands over are only collected, so
these tests need no executor.  tests/test_scheduler_processes.py runs real
scheduler processes.
"""

import datetime
import itertools
import logging
from zoneinfo import ZoneInfo

import pytest
from freezegun import freeze_time

from batchrun.models import Command, Job, JobRun, ScheduledJob, SchedulerHeartbeat
from batchrun.scheduler import Scheduler

HELSINKI = ZoneInfo("Europe/Helsinki")

pytestmark = pytest.mark.django_db(transaction=True)


def at(text: str) -> datetime.datetime:
    return datetime.datetime.fromisoformat(text)


class Launcher:
    """Collect what the scheduler launches."""

    def __init__(self) -> None:
        self.runs: list[JobRun] = []
        self.calls = 0

    def __call__(self, runs) -> None:
        self.calls += 1
        self.runs.extend(runs)

    @property
    def times(self) -> list[str]:
        # The rule's own events, in its zone.  Not astimezone(): freezegun's
        # FakeDatetime.astimezone drops the fold of a repeated wall time.
        return [str(run.scheduled_for) for run in self.runs]


@pytest.fixture(autouse=True)
def _claimed_runs_are_not_lost(settings):
    # Runs handed to the fake launcher never beat; keep them running.
    settings.BATCHRUN_LOST_AFTER = 3600


@pytest.fixture
def launcher():
    return Launcher()


@pytest.fixture
def scheduler(launcher):
    scheduler = Scheduler(launch=launcher)
    yield scheduler
    scheduler.close()


@pytest.fixture
def frozen():
    with freeze_time(at("2019-05-01T11:59:30+03:00")) as frozen:
        yield frozen


def make_schedule(name="report", overlap_policy="allow", **fields) -> ScheduledJob:
    command, _ = Command.objects.get_or_create(name="true")
    job = Job.objects.create(name=name, command=command, overlap_policy=overlap_policy)
    fields.setdefault("timezone", "Europe/Helsinki")
    return ScheduledJob.objects.create(job=job, **fields)


def recorded() -> list[tuple[str, str]]:
    return [
        (str(run.scheduled_for.astimezone(HELSINKI)), run.status)
        for run in JobRun.objects.order_by("scheduled_for")
    ]


class TestLaunching:
    def test_a_due_occurrence_is_claimed_and_launched_at_its_time(
        self, frozen, scheduler, launcher
    ):
        make_schedule(hours="12", minutes="0")
        scheduler.run_once()
        assert launcher.runs == []

        frozen.move_to(at("2019-05-01T12:00:00+03:00"))
        scheduler.run_once()

        assert launcher.times == ["2019-05-01 12:00:00+03:00"]
        assert recorded() == [("2019-05-01 12:00:00+03:00", "running")]

    def test_the_loop_wakes_for_the_next_event_not_at_the_next_poll(
        self, frozen, scheduler, settings
    ):
        settings.BATCHRUN_POLL_INTERVAL = 600
        settings.BATCHRUN_HEARTBEAT_INTERVAL = 600
        make_schedule(hours="12", minutes="0")

        scheduler.run_once()

        assert scheduler.get_next_wake() == at("2019-05-01T12:00:00+03:00")

    def test_an_occurrence_is_launched_once_over_many_passes(
        self, frozen, scheduler, launcher
    ):
        make_schedule(hours="12", minutes="0")
        scheduler.run_once()

        for second in range(0, 50, 10):
            frozen.move_to(at("2019-05-01T12:00:00+03:00") + second * ONE_SECOND)
            scheduler.run_once()

        assert launcher.times == ["2019-05-01 12:00:00+03:00"]

    def test_a_second_scheduler_does_not_launch_what_the_first_launched(
        self, frozen, scheduler, launcher
    ):
        make_schedule(hours="12", minutes="0")
        other_launcher = Launcher()
        other = Scheduler(launch=other_launcher)
        frozen.move_to(at("2019-05-01T12:00:00+03:00"))

        scheduler.run_once()
        other.run_once()
        other.close()

        assert (len(launcher.runs), other_launcher.runs) == (1, [])

    def test_a_pass_with_nothing_due_calls_no_launcher(
        self, frozen, scheduler, launcher
    ):
        make_schedule(hours="13", minutes="0")

        scheduler.run_once()

        assert launcher.calls == 0


ONE_SECOND = datetime.timedelta(seconds=1)


class TestActiveSince:
    def test_minutes_before_a_schedule_was_created_never_fire(
        self, frozen, scheduler, launcher
    ):
        frozen.move_to(at("2019-05-01T12:00:30+03:00"))
        make_schedule(minutes="*")

        scheduler.run_once()
        frozen.move_to(at("2019-05-01T12:01:00+03:00"))
        scheduler.run_once()

        assert launcher.times == ["2019-05-01 12:01:00+03:00"]
        assert recorded() == [("2019-05-01 12:01:00+03:00", "running")]

    def test_re_enabling_a_schedule_does_not_fire_the_minutes_it_was_off(
        self, frozen, scheduler, launcher
    ):
        schedule = make_schedule(minutes="*")
        frozen.move_to(at("2019-05-01T12:00:00+03:00"))
        scheduler.run_once()
        frozen.move_to(at("2019-05-01T12:00:20+03:00"))
        schedule.enabled = False
        schedule.save()

        frozen.move_to(at("2019-05-01T12:02:30+03:00"))
        scheduler.run_once()
        schedule.enabled = True
        schedule.save()
        frozen.move_to(at("2019-05-01T12:02:40+03:00"))
        scheduler.run_once()
        frozen.move_to(at("2019-05-01T12:03:00+03:00"))
        scheduler.run_once()

        assert launcher.times == [
            "2019-05-01 12:00:00+03:00",
            "2019-05-01 12:03:00+03:00",
        ]
        assert [status for _, status in recorded()] == ["running", "running"]

    def test_an_edit_takes_effect_at_the_next_reload(
        self, frozen, scheduler, launcher, settings
    ):
        settings.BATCHRUN_POLL_INTERVAL = 10
        settings.BATCHRUN_HEARTBEAT_INTERVAL = 600
        schedule = make_schedule(hours="12", minutes="30")
        frozen.move_to(at("2019-05-01T12:00:00+03:00"))
        scheduler.run_once()

        frozen.move_to(at("2019-05-01T12:00:05+03:00"))
        schedule.minutes = "1"
        schedule.save()
        scheduler.run_once()
        before_reload = scheduler.get_next_wake()
        frozen.move_to(at("2019-05-01T12:00:10+03:00"))
        scheduler.run_once()

        assert before_reload == at("2019-05-01T12:00:10+03:00")
        assert scheduler.get_next_wake() == at("2019-05-01T12:00:20+03:00")
        frozen.move_to(at("2019-05-01T12:01:00+03:00"))
        scheduler.run_once()
        assert launcher.times == ["2019-05-01 12:01:00+03:00"]

    def test_a_deleted_schedule_stops_firing_at_the_next_reload(
        self, frozen, scheduler, launcher
    ):
        schedule = make_schedule(minutes="*")
        frozen.move_to(at("2019-05-01T12:00:00+03:00"))
        scheduler.run_once()

        schedule.delete()
        frozen.move_to(at("2019-05-01T12:01:00+03:00"))
        scheduler.run_once()

        assert launcher.times == ["2019-05-01 12:00:00+03:00"]


class TestMissedOccurrences:
    def test_an_occurrence_missed_by_more_than_the_grace_period_is_skipped(
        self, frozen, scheduler, launcher
    ):
        make_schedule(hours="12", minutes="0")
        frozen.move_to(at("2019-05-01T12:05:01+03:00"))

        [run] = scheduler.run_once()

        assert launcher.runs == []
        assert (run.status, run.message) == (
            "skipped",
            "Not launched: the occurrence was 0:05:01 late, more than the grace "
            "period of 0:05:00; no scheduler ran it in time.",
        )

    def test_an_occurrence_late_within_the_grace_period_is_launched(
        self, frozen, scheduler, launcher
    ):
        make_schedule(hours="12", minutes="0")
        frozen.move_to(at("2019-05-01T12:04:59+03:00"))

        scheduler.run_once()

        assert launcher.times == ["2019-05-01 12:00:00+03:00"]

    def test_after_downtime_a_job_launches_once_and_one_row_sums_up_the_rest(
        self, frozen, launcher
    ):
        make_schedule(minutes="*")
        frozen.move_to(at("2019-05-01T12:00:00+03:00"))
        first = Scheduler(launch=launcher)
        first.run_once()
        first.close()

        frozen.move_to(at("2019-05-01T15:00:10+03:00"))
        restarted = Scheduler(launch=launcher)
        restarted.run_once()
        restarted.run_once()
        restarted.close()

        assert launcher.times == [
            "2019-05-01 12:00:00+03:00",
            "2019-05-01 15:00:00+03:00",
        ]
        skipped = JobRun.objects.get(status="skipped")
        assert str(skipped.scheduled_for.astimezone(HELSINKI)) == (
            "2019-05-01 14:59:00+03:00"
        )
        assert skipped.message.startswith(
            "Not launched: 179 occurrences from 2019-05-01 12:01:00+03:00 to "
            "2019-05-01 14:59:00+03:00 were missed"
        )
        assert JobRun.objects.count() == 3

    def test_a_restart_does_not_record_the_same_missed_occurrences_again(
        self, frozen, launcher
    ):
        make_schedule(hours="6", minutes="0")
        frozen.move_to(at("2019-05-03T12:00:00+03:00"))
        for _ in range(2):
            scheduler = Scheduler(launch=launcher)
            scheduler.run_once()
            scheduler.close()

        assert recorded() == [("2019-05-03 06:00:00+03:00", "skipped")]
        assert JobRun.objects.get().message.startswith(
            "Not launched: 2 occurrences from 2019-05-02 06:00:00+03:00 to "
            "2019-05-03 06:00:00+03:00 were missed"
        )


class TestOverlapPolicy:
    def test_skip_policy_records_a_skip_while_the_previous_run_is_running(
        self, frozen, scheduler, launcher
    ):
        make_schedule(minutes="*", overlap_policy="skip")
        frozen.move_to(at("2019-05-01T12:00:00+03:00"))
        scheduler.run_once()

        frozen.move_to(at("2019-05-01T12:01:00+03:00"))
        scheduler.run_once()

        first = launcher.runs[0]
        assert recorded() == [
            ("2019-05-01 12:00:00+03:00", "running"),
            ("2019-05-01 12:01:00+03:00", "skipped"),
        ]
        assert JobRun.objects.get(status="skipped").message == (
            f"Not launched: run #{first.pk} of this job was still running and "
            "the job's overlap policy is skip."
        )

    def test_allow_policy_launches_while_the_previous_run_is_running(
        self, frozen, scheduler, launcher
    ):
        make_schedule(minutes="*", overlap_policy="allow")
        for minute in ("12:00", "12:01"):
            frozen.move_to(at(f"2019-05-01T{minute}:00+03:00"))
            scheduler.run_once()

        assert len(launcher.runs) == 2


class TestBadSchedules:
    def test_an_invalid_rule_written_around_the_admin_is_logged_once_and_skipped(
        self, frozen, scheduler, launcher, caplog
    ):
        bad = make_schedule(name="bad", minutes="*")
        make_schedule(name="good", minutes="*")
        ScheduledJob.objects.filter(pk=bad.pk).update(minutes="0-99")
        caplog.set_level(logging.WARNING, logger="batchrun")

        for minute in ("12:00", "12:01"):
            frozen.move_to(at(f"2019-05-01T{minute}:00+03:00"))
            scheduler.run_once()

        assert [run.job.name for run in launcher.runs] == ["good", "good"]
        warnings = [
            record.getMessage()
            for record in caplog.records
            if record.name == "batchrun.scheduler"
        ]
        assert len(warnings) == 1
        assert warnings[0].startswith(
            f"Ignoring scheduled job with an invalid rule schedule={bad.pk} "
            "job=bad error="
        )
        assert "0-99" in warnings[0]

    def test_an_unknown_timezone_written_around_the_admin_is_skipped(
        self, frozen, scheduler, launcher
    ):
        bad = make_schedule(name="bad", minutes="*")
        ScheduledJob.objects.filter(pk=bad.pk).update(timezone="Mars/Olympus")
        frozen.move_to(at("2019-05-01T12:00:00+03:00"))

        assert scheduler.run_once() == []


class TestHeartbeat:
    def test_a_pass_records_this_schedulers_heartbeat(self, frozen, scheduler):
        scheduler.run_once()

        beat = SchedulerHeartbeat.objects.get()
        assert (beat.pid, beat.host) == (scheduler.pid, scheduler.host)
        assert beat.last_seen_at == at("2019-05-01T11:59:30+03:00")

    def test_the_heartbeat_is_updated_every_heartbeat_interval(
        self, frozen, scheduler, settings
    ):
        settings.BATCHRUN_HEARTBEAT_INTERVAL = 5
        scheduler.run_once()
        frozen.move_to(at("2019-05-01T11:59:34+03:00"))
        scheduler.run_once()
        assert SchedulerHeartbeat.objects.get().last_seen_at == at(
            "2019-05-01T11:59:30+03:00"
        )

        frozen.move_to(at("2019-05-01T11:59:35+03:00"))
        scheduler.run_once()

        assert SchedulerHeartbeat.objects.get().last_seen_at == at(
            "2019-05-01T11:59:35+03:00"
        )

    def test_a_removed_heartbeat_row_is_recreated(self, frozen, scheduler):
        scheduler.run_once()
        SchedulerHeartbeat.objects.all().delete()
        frozen.tick(datetime.timedelta(seconds=10))

        scheduler.run_once()

        assert SchedulerHeartbeat.objects.count() == 1

    def test_the_loop_removes_its_heartbeat_when_it_ends(self, launcher):
        scheduler = Scheduler(launch=launcher)

        scheduler.run_forever(max_ticks=2)

        assert SchedulerHeartbeat.objects.count() == 0
        assert scheduler.failures == 0


class TestEachPass:
    def test_a_pass_marks_runs_without_heartbeat_lost(
        self, frozen, scheduler, settings
    ):
        settings.BATCHRUN_LOST_AFTER = 60
        schedule = make_schedule(minutes="*")
        run = JobRun.objects.create(
            job=schedule.job,
            status="running",
            heartbeat_at=at("2019-05-01T11:50:00+03:00"),
        )

        scheduler.run_once()

        run.refresh_from_db()
        assert run.status == "lost"

    def test_the_loop_survives_a_failing_launch_and_never_claims_twice(self, caplog):
        # One event, in the minute that has just begun, and none after it
        # for a day.
        now = datetime.datetime.now(HELSINKI)
        schedule = make_schedule(hours=str(now.hour), minutes=str(now.minute))
        ScheduledJob.objects.filter(pk=schedule.pk).update(
            active_since=now - datetime.timedelta(minutes=2)
        )
        calls = []

        def launch(runs):
            calls.append([run.pk for run in runs])
            raise RuntimeError("The launcher broke.")

        scheduler = Scheduler(launch=launch)
        caplog.set_level(logging.ERROR, logger="batchrun")

        scheduler.run_forever(max_ticks=3)

        assert len(calls) == 1
        assert JobRun.objects.count() == 1
        assert [r.getMessage() for r in caplog.records] == [
            "Unexpected error in the scheduler loop"
        ]
        assert scheduler.failures == 0


NIGHTS = {
    "spring-forward": ("2019-03-31T01:00:00+02:00", "2019-03-31T07:00:00+03:00"),
    "fall-back": ("2019-10-27T01:00:00+03:00", "2019-10-27T07:00:00+02:00"),
}
RULES = {
    "hourly-at-30": {"hours": "*", "minutes": "30"},
    "daily-at-03-30": {"hours": "3", "minutes": "30"},
    "at-30-in-hours-3-4": {"hours": "3-4", "minutes": "30"},
    "quarter-hours": {"hours": "2-5", "minutes": "*/15"},
}
EXPECTED = {
    ("spring-forward", "daily-at-03-30"): ["2019-03-31 04:30:00+03:00"],
    ("spring-forward", "at-30-in-hours-3-4"): ["2019-03-31 04:30:00+03:00"],
    ("fall-back", "daily-at-03-30"): ["2019-10-27 03:30:00+03:00"],
    ("fall-back", "at-30-in-hours-3-4"): [
        "2019-10-27 03:30:00+03:00",
        "2019-10-27 03:30:00+02:00",
        "2019-10-27 04:30:00+02:00",
    ],
}


@pytest.mark.parametrize("night", NIGHTS)
def test_occurrences_launched_across_a_dst_change_match_the_rule(night, launcher):
    start, end = (at(moment) for moment in NIGHTS[night])
    with freeze_time(start) as frozen:
        schedules = {name: make_schedule(name=name, **RULES[name]) for name in RULES}
        scheduler = Scheduler(launch=launcher)
        moment = start
        while moment <= end:
            frozen.move_to(moment)
            scheduler.run_once()
            moment += datetime.timedelta(minutes=1)
        scheduler.close()

    for name, schedule in schedules.items():
        rule_events = itertools.takewhile(
            lambda event: event <= end, schedule.recurrence_rule.get_next_events(start)
        )
        expected = [str(event) for event in rule_events]
        launched = [
            str(run.scheduled_for)
            for run in launcher.runs
            if run.scheduled_job_id == schedule.pk
        ]
        assert launched == expected, (name, recorded())
        if (night, name) in EXPECTED:
            assert launched == EXPECTED[night, name], name
    assert JobRun.objects.filter(status="skipped").count() == 0
