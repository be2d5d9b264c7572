"""Tests of batchrun.planning: which occurrences are launched, which skipped."""

import datetime
from zoneinfo import ZoneInfo

import pytest

from batchrun.models import Command, Job, ScheduledJob
from batchrun.planning import (
    LOOKBACK,
    ScheduleCursor,
    get_cursor_start,
    get_rule_signature,
    plan_claims,
)

HELSINKI = ZoneInfo("Europe/Helsinki")


def at(text: str) -> datetime.datetime:
    return datetime.datetime.fromisoformat(text).astimezone(HELSINKI)


def make_schedule(**fields) -> ScheduledJob:
    job = Job(pk=7, name="report", command=Command(name="true"))
    fields.setdefault("active_since", at("2019-01-01T00:00:00+02:00"))
    fields.setdefault("timezone", "Europe/Helsinki")
    return ScheduledJob(pk=3, job=job, **fields)


def describe(claims) -> list[tuple[str, str, str]]:
    return [(str(c.scheduled_for), c.status, c.message) for c in claims]


class TestPlanClaims:
    def test_an_event_due_now_is_launched(self):
        schedule = make_schedule()
        event = at("2019-05-01T12:00:00+03:00")

        claims = plan_claims(schedule, [event], event + datetime.timedelta(seconds=1))

        assert describe(claims) == [("2019-05-01 12:00:00+03:00", "running", "")]

    def test_nothing_due_gives_no_claims(self):
        assert plan_claims(make_schedule(), [], at("2019-05-01T12:00:00+03:00")) == []

    def test_an_event_late_by_the_grace_period_is_still_launched(self):
        event = at("2019-05-01T12:00:00+03:00")

        claims = plan_claims(make_schedule(), [event], at("2019-05-01T12:05:00+03:00"))

        assert [c.status for c in claims] == ["running"]

    def test_an_event_later_than_the_grace_period_is_skipped_with_the_reason(self):
        event = at("2019-05-01T12:00:00+03:00")

        claims = plan_claims(make_schedule(), [event], at("2019-05-01T12:05:01+03:00"))

        assert describe(claims) == [
            (
                "2019-05-01 12:00:00+03:00",
                "skipped",
                "Not launched: the occurrence was 0:05:01 late, more than the "
                "grace period of 0:05:00; no scheduler ran it in time.",
            )
        ]

    def test_the_schedules_own_grace_period_overrides_the_setting(self):
        schedule = make_schedule(grace_period=datetime.timedelta(hours=1))
        event = at("2019-05-01T12:00:00+03:00")

        claims = plan_claims(schedule, [event], at("2019-05-01T12:59:00+03:00"))

        assert [c.status for c in claims] == ["running"]

    def test_the_grace_period_setting_is_read_at_call_time(self, settings):
        settings.BATCHRUN_GRACE_PERIOD = 30
        event = at("2019-05-01T12:00:00+03:00")

        claims = plan_claims(make_schedule(), [event], at("2019-05-01T12:00:31+03:00"))

        assert [c.status for c in claims] == ["skipped"]

    def test_after_a_short_delay_only_the_latest_event_is_launched(self):
        events = [at("2019-05-01T12:01:00+03:00"), at("2019-05-01T12:02:00+03:00")]

        claims = plan_claims(make_schedule(), events, at("2019-05-01T12:02:10+03:00"))

        assert describe(claims) == [
            (
                "2019-05-01 12:01:00+03:00",
                "skipped",
                "Not launched: the later occurrence 2019-05-01 12:02:00+03:00 was "
                "due too and was launched instead; after a delay only the latest "
                "occurrence is launched.",
            ),
            ("2019-05-01 12:02:00+03:00", "running", ""),
        ]

    def test_after_downtime_one_summary_row_stands_for_all_missed_events(self):
        start = at("2019-05-01T00:00:00+03:00")
        events = [start + datetime.timedelta(minutes=n) for n in range(1440)]
        now = events[-1] + datetime.timedelta(seconds=20)

        claims = plan_claims(make_schedule(), events, now)

        assert describe(claims) == [
            (
                "2019-05-01 23:58:00+03:00",
                "skipped",
                "Not launched: 1439 occurrences from 2019-05-01 00:00:00+03:00 to "
                "2019-05-01 23:58:00+03:00 were missed while no scheduler ran "
                "them; only the latest occurrence, 2019-05-01 23:59:00+03:00, was "
                "launched (grace period 0:05:00).",
            ),
            ("2019-05-01 23:59:00+03:00", "running", ""),
        ]

    def test_after_downtime_beyond_the_grace_period_nothing_is_launched(self):
        events = [at("2019-05-01T06:00:00+03:00"), at("2019-05-02T06:00:00+03:00")]

        claims = plan_claims(make_schedule(), events, at("2019-05-02T09:00:00+03:00"))

        assert describe(claims) == [
            (
                "2019-05-02 06:00:00+03:00",
                "skipped",
                "Not launched: 2 occurrences from 2019-05-01 06:00:00+03:00 to "
                "2019-05-02 06:00:00+03:00 were missed while no scheduler ran "
                "them; all were more than the grace period late (grace period "
                "0:05:00).",
            )
        ]


class TestGetCursorStart:
    def test_a_new_schedule_starts_when_it_became_active(self):
        schedule = make_schedule(active_since=at("2019-05-01T12:00:30+03:00"))

        start = get_cursor_start(schedule, None, at("2019-05-01T12:03:00+03:00"))

        assert str(start) == "2019-05-01 12:00:30+03:00"

    def test_a_schedule_starts_just_after_its_latest_recorded_occurrence(self):
        schedule = make_schedule()
        latest = at("2019-05-01T12:00:00+03:00")

        start = get_cursor_start(schedule, latest, at("2019-05-01T12:03:00+03:00"))

        assert str(start) == "2019-05-01 12:00:01+03:00"

    def test_a_long_downtime_is_looked_back_on_for_a_bounded_time(self):
        now = at("2019-05-30T12:00:00+03:00")

        start = get_cursor_start(make_schedule(), None, now)

        assert start == now - LOOKBACK - datetime.timedelta(minutes=5)


class TestScheduleCursor:
    def test_take_due_returns_the_events_up_to_now_once(self):
        schedule = make_schedule(minutes="*/20", hours="12")
        cursor = ScheduleCursor(schedule, at("2019-05-01T12:00:00+03:00"))

        first = cursor.take_due(at("2019-05-01T12:25:00+03:00"))
        second = cursor.take_due(at("2019-05-01T12:25:00+03:00"))

        assert [str(event) for event in first] == [
            "2019-05-01 12:00:00+03:00",
            "2019-05-01 12:20:00+03:00",
        ]
        assert second == []
        assert str(cursor.next_event) == "2019-05-01 12:40:00+03:00"

    def test_a_cursor_of_a_rule_that_never_fires_again_has_no_next_event(self):
        schedule = make_schedule(years="2019", months="1")

        cursor = ScheduleCursor(schedule, at("2019-05-01T12:00:00+03:00"))

        assert cursor.next_event is None
        assert cursor.take_due(at("2030-01-01T00:00:00+02:00")) == []

    @pytest.mark.parametrize(
        ("field", "value"),
        [("minutes", "61"), ("hours", "x"), ("timezone", "Mars/Olympus")],
        ids=["minute-out-of-range", "garbage-hours", "unknown-zone"],
    )
    def test_an_invalid_rule_raises_value_error(self, field, value):
        schedule = make_schedule(**{field: value})

        with pytest.raises(ValueError, match=value):
            ScheduleCursor(schedule, at("2019-05-01T12:00:00+03:00"))

    def test_the_signature_changes_with_the_rule_and_with_active_since(self):
        schedule = make_schedule()
        before = get_rule_signature(schedule)

        schedule.minutes = "5"
        after_edit = get_rule_signature(schedule)
        schedule.minutes = "*"
        schedule.active_since += datetime.timedelta(seconds=1)

        assert len({before, after_edit, get_rule_signature(schedule)}) == 3
