"""Validation and behaviour of the models."""

import datetime

import pytest
from django.contrib.auth.models import Permission
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from freezegun import freeze_time

from batchrun.models import Command, Job, JobRun, LogChunk, ScheduledJob

pytestmark = pytest.mark.django_db

NOW = datetime.datetime(2030, 1, 15, 12, 0, tzinfo=datetime.UTC)


def errors_of(instance) -> dict[str, list[str]]:
    """Return full_clean()'s messages by field, or {} if the instance is valid."""
    try:
        instance.full_clean()
    except ValidationError as error:
        return error.message_dict
    return {}


@pytest.fixture
def command():
    return Command.objects.create(
        name="report", parameter_format_string="--rent-id {rent_id} --since {since}"
    )


class TestCommand:
    def test_valid_command_has_no_errors(self, command):
        assert errors_of(command) == {}
        assert command.placeholders == ["rent_id", "since"]

    @pytest.mark.parametrize(
        ("fields", "errors"),
        [
            (
                {"parameter_format_string": "--a 'open"},
                {
                    "parameter_format_string": [
                        "The parameter format string cannot be split: "
                        "No closing quotation."
                    ]
                },
            ),
            (
                {"type": "django", "name": "clear sessions"},
                {
                    "name": [
                        "A Django management command name has no spaces or slashes."
                    ]
                },
            ),
            (
                {"type": "django", "name": "../../bin/sh"},
                {
                    "name": [
                        "A Django management command name has no spaces or slashes."
                    ]
                },
            ),
        ],
        ids=["unsplittable", "django-space", "django-slash"],
    )
    def test_invalid_command_names_the_field(self, fields, errors):
        command = Command(**{"name": "report", **fields})

        assert errors_of(command) == errors

    def test_nul_in_the_name_is_refused(self):
        assert "name" in errors_of(Command(name="rep\0ort"))

    def test_command_line_of_an_executable_starts_with_its_name(self, command):
        argv = command.get_command_line({"rent_id": 1, "since": "2030-01-01"})

        assert argv == ["report", "--rent-id", "1", "--since", "2030-01-01"]


class TestJob:
    def test_valid_job_has_no_errors(self, command):
        job = Job(name="rents", command=command, arguments={"rent_id": 1, "since": "x"})

        assert errors_of(job) == {}

    def test_every_missing_placeholder_and_bad_value_is_named(self, command):
        job = Job(name="rents", command=command, arguments={"since": [2030]})

        assert errors_of(job) == {
            "arguments": [
                "Argument since is not a string, number or boolean: [2030].",
                "Argument rent_id is missing; the command uses {rent_id}.",
            ]
        }

    def test_arguments_must_be_an_object(self, command):
        job = Job(name="rents", command=command, arguments=["rent_id", 1])

        assert errors_of(job) == {
            "arguments": ["Arguments must be a JSON object, e.g. {}."]
        }

    def test_timeout_must_be_positive(self, command):
        job = Job(
            name="rents",
            command=command,
            arguments={"rent_id": 1, "since": "x"},
            timeout=datetime.timedelta(0),
        )

        assert errors_of(job) == {"timeout": ["The timeout must be positive."]}

    def test_run_permission_exists_for_the_run_now_action(self):
        assert Permission.objects.filter(
            content_type__app_label="batchrun", codename="run_job"
        ).exists()


class TestScheduledJob:
    @pytest.fixture
    def job(self, command):
        return Job.objects.create(
            name="rents", command=command, arguments={"rent_id": 1, "since": "x"}
        )

    @pytest.mark.parametrize(
        ("field", "value", "message"),
        [
            ("years", "2201", "Invalid part '2201' in years specifier '2201': "),
            ("months", "13", "values must be in 1-12."),
            ("days_of_month", "32", "values must be in 1-31."),
            ("weekdays", "1-7", "values must be in 0-6."),
            ("hours", "*/0", "the step must be at least 1; values must be in 0-23."),
            ("minutes", "5/2", "a step may only follow a range or a star"),
        ],
    )
    def test_bad_specifier_is_an_error_on_its_field(self, job, field, value, message):
        schedule = ScheduledJob(job=job, **{field: value})

        errors = errors_of(schedule)

        assert list(errors) == [field]
        assert message in errors[field][0]

    def test_unknown_timezone_is_an_error_on_the_timezone(self, job):
        errors = errors_of(ScheduledJob(job=job, timezone="Mars/Olympus_Mons"))

        assert errors == {
            "timezone": [
                "Unknown timezone 'Mars/Olympus_Mons': use an IANA name such as "
                "'Europe/Helsinki' or 'UTC'."
            ]
        }

    @freeze_time(NOW)
    def test_rule_that_never_fires_again_is_refused(self, job):
        schedule = ScheduledJob(job=job, years="2029", months="*")

        assert errors_of(schedule) == {
            "__all__": ["This rule never fires from now on; check the years and days."]
        }

    def test_impossible_date_is_refused(self, job):
        schedule = ScheduledJob(job=job, months="2", days_of_month="30-31")

        assert errors_of(schedule) == {
            "__all__": ["This rule never fires from now on; check the years and days."]
        }

    def test_default_timezone_is_the_projects(self, job, settings):
        settings.TIME_ZONE = "America/Sao_Paulo"

        assert ScheduledJob(job=job).timezone == "America/Sao_Paulo"

    def test_rule_follows_the_fields(self, job):
        schedule = ScheduledJob(
            job=job, timezone="Europe/Helsinki", weekdays="1-5", hours="2", minutes="30"
        )

        events = schedule.get_next_events(NOW)

        assert [str(next(events)) for _ in range(3)] == [
            "2030-01-16 02:30:00+02:00",
            "2030-01-17 02:30:00+02:00",
            "2030-01-18 02:30:00+02:00",
        ]

    def test_saving_sets_active_since_even_with_update_fields(self, job):
        with freeze_time(NOW):
            schedule = ScheduledJob.objects.create(job=job)
        later = NOW + datetime.timedelta(hours=3)

        with freeze_time(later):
            schedule.enabled = False
            schedule.save(update_fields=["enabled"])

        schedule.refresh_from_db()
        assert (schedule.enabled, schedule.active_since) == (False, later)

    def test_an_invalid_stored_rule_describes_itself_as_invalid(self, job):
        ScheduledJob.objects.filter(pk=ScheduledJob.objects.create(job=job).pk).update(
            hours="99"
        )

        assert ScheduledJob.objects.get().describe() == "invalid rule"


class TestJobRun:
    @pytest.fixture
    def schedule(self, command):
        job = Job.objects.create(
            name="rents", command=command, arguments={"rent_id": 1, "since": "x"}
        )
        return ScheduledJob.objects.create(job=job)

    def test_an_occurrence_has_at_most_one_run(self, schedule):
        JobRun.objects.create(
            job=schedule.job, scheduled_job=schedule, scheduled_for=NOW
        )

        with pytest.raises(IntegrityError), transaction.atomic():
            JobRun.objects.create(
                job=schedule.job, scheduled_job=schedule, scheduled_for=NOW
            )

    def test_manual_runs_do_not_collide(self, schedule):
        JobRun.objects.create(job=schedule.job)
        JobRun.objects.create(job=schedule.job)

        assert JobRun.objects.count() == 2

    def test_a_chunk_number_is_used_once_per_run(self, schedule):
        run = JobRun.objects.create(job=schedule.job)
        fields = {"stream": 1, "time": NOW, "first_line": 0, "line_count": 1}
        LogChunk.objects.create(run=run, seq=0, text="a\n", **fields)

        with pytest.raises(IntegrityError), transaction.atomic():
            LogChunk.objects.create(run=run, seq=0, text="b\n", **fields)

    def test_duration_runs_from_start_to_stop(self, schedule):
        run = JobRun(
            job=schedule.job,
            started_at=NOW,
            stopped_at=NOW + datetime.timedelta(minutes=2, seconds=5),
        )

        assert run.duration == datetime.timedelta(minutes=2, seconds=5)
        assert JobRun(job=schedule.job).duration is None

    @freeze_time(NOW)
    def test_duration_of_a_running_run_grows_with_the_clock(self, schedule):
        run = JobRun(job=schedule.job, started_at=NOW - datetime.timedelta(seconds=9))

        assert run.duration == datetime.timedelta(seconds=9)
        assert run.is_running is True

    def test_cancel_permission_exists_for_the_cancel_action(self):
        assert Permission.objects.filter(
            content_type__app_label="batchrun", codename="cancel_jobrun"
        ).exists()
