"""The admin of commands, jobs and scheduled jobs, through the test client."""

import datetime
import re
import sys
import time

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse
from freezegun import freeze_time

from batchrun.models import Command, Job, JobRun, ScheduledJob

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def long_sessions(settings):
    """Keep logins valid in tests that freeze the clock years ahead."""
    settings.SESSION_COOKIE_AGE = 100 * 365 * 24 * 3600


@pytest.fixture
def clock(monkeypatch):
    """
    Return a function that fixes ``timezone.now()`` at an aware datetime.

    Unlike freezegun, it leaves the datetime class alone: freezegun's
    ``astimezone()`` drops ``fold``, which hides the second pass of a
    repeated wall-clock time.
    """

    def set_now(text: str) -> None:
        now = datetime.datetime.fromisoformat(text)
        monkeypatch.setattr("django.utils.timezone.now", lambda: now)

    return set_now


def make_staff(django_user_model, *codenames: str):
    """Return a staff user holding the given batchrun permissions."""
    user = django_user_model.objects.create_user(
        username="-".join(["staff", *codenames])[:150], password="x", is_staff=True
    )
    user.user_permissions.set(
        Permission.objects.filter(
            content_type__app_label="batchrun", codename__in=codenames
        )
    )
    return user


def make_job(name="rent report", arguments=None, format_string="--rent-id {rent_id}"):
    command, _ = Command.objects.get_or_create(
        name="report", parameter_format_string=format_string
    )
    job, _ = Job.objects.get_or_create(
        name=name,
        defaults={
            "command": command,
            "arguments": {"rent_id": 7} if arguments is None else arguments,
        },
    )
    return job


def preview_rows(content: str) -> list[str]:
    """Return the preview table's rows as text, cells joined by " | "."""
    body = content.split('<table class="batchrun-preview">')[1].split("</table>")[0]
    rows = []
    for row in re.findall(r"<tr class=.*?</tr>", body, re.DOTALL):
        cells = re.findall(r"<td.*?>(.*?)</td>", row, re.DOTALL)
        texts = [" ".join(re.sub(r"<[^>]+>", "", cell).split()) for cell in cells]
        rows.append(" | ".join(texts).strip())
    return rows


def schedule_form(job, **values):
    data = {
        "job": job.pk,
        "enabled": "on",
        "comment": "",
        "timezone": "Europe/Helsinki",
        "years": "*",
        "months": "*",
        "days_of_month": "*",
        "weekdays": "*",
        "hours": "2",
        "minutes": "0",
        "grace_period": "",
    }
    data.update(values)
    return data


class TestCommandAdmin:
    def test_list_shows_each_command_with_its_number_of_jobs(self, admin_client):
        make_job("a")
        make_job("b")
        Command.objects.create(name="/usr/bin/true")

        response = admin_client.get(reverse("admin:batchrun_command_changelist"))

        assert response.status_code == 200
        rows = [(row.name, row.job_count) for row in response.context["cl"].result_list]
        assert rows == [("/usr/bin/true", 0), ("report", 2)]

    def test_search_finds_commands_by_format_string(self, admin_client):
        make_job()
        Command.objects.create(name="cleanup", parameter_format_string="--all")

        response = admin_client.get(
            reverse("admin:batchrun_command_changelist"), {"q": "rent-id"}
        )

        names = [command.name for command in response.context["cl"].result_list]
        assert names == ["report"]

    @pytest.mark.parametrize(
        ("format_string", "message"),
        [
            ('--name "unclosed', "cannot be split: No closing quotation"),
            ("--id {job.pk}", "placeholders are plain names"),
            ("--id {0}", "placeholders are plain names"),
            ("--id {rent_id!r}", "placeholders are plain names"),
            ("--id {rent_id:>5}", "placeholders are plain names"),
            ("--id {rent_id", "Invalid placeholder"),
        ],
        ids=["quote", "attribute", "positional", "conversion", "format", "brace"],
    )
    def test_bad_format_string_is_reported_on_its_field(
        self, admin_client, format_string, message
    ):
        response = admin_client.post(
            reverse("admin:batchrun_command_add"),
            {
                "type": "executable",
                "name": "report",
                "comment": "",
                "parameter_format_string": format_string,
            },
        )

        assert response.status_code == 200
        errors = response.context["adminform"].form.errors
        assert list(errors) == ["parameter_format_string"]
        assert message in errors["parameter_format_string"][0]
        assert Command.objects.count() == 0

    def test_django_command_name_with_a_space_is_reported_on_the_name(
        self, admin_client
    ):
        response = admin_client.post(
            reverse("admin:batchrun_command_add"),
            {
                "type": "django",
                "name": "clearsessions now",
                "comment": "",
                "parameter_format_string": "",
            },
        )

        errors = response.context["adminform"].form.errors
        assert list(errors) == ["name"]

    def test_form_warns_that_changing_commands_runs_any_program(self, admin_client):
        response = admin_client.get(reverse("admin:batchrun_command_add"))

        assert b"whoever may change commands may run any program" in response.content

    def test_user_with_view_permission_only_cannot_change_a_command(
        self, client, django_user_model
    ):
        command = Command.objects.create(name="report")
        client.force_login(make_staff(django_user_model, "view_command"))
        url = reverse("admin:batchrun_command_change", args=[command.pk])

        page = client.get(url)
        response = client.post(
            url, {"type": "executable", "name": "rm", "parameter_format_string": ""}
        )

        assert page.status_code == 200
        assert b'name="name"' not in page.content
        assert response.status_code == 403
        command.refresh_from_db()
        assert command.name == "report"


class TestJobAdmin:
    def test_list_shows_command_arguments_and_last_run_in_few_queries(
        self, admin_client, django_assert_max_num_queries
    ):
        for number in range(20):
            job = make_job(f"job {number:02d}")
            JobRun.objects.create(job=job, status=JobRun.Status.FAILED, exit_code=1)
            JobRun.objects.create(job=job, status=JobRun.Status.SUCCEEDED, exit_code=0)

        # Session, user, command filter choices, two counts, page of jobs.
        with django_assert_max_num_queries(6):
            response = admin_client.get(reverse("admin:batchrun_job_changelist"))

        assert response.status_code == 200
        assert response.context["cl"].result_count == 20
        content = response.content.decode()
        assert "rent_id=7" in content
        assert content.count("batchrun-status-succeeded") == 20
        assert "batchrun-status-failed" not in content

    def test_missing_argument_is_reported_on_the_arguments_field(self, admin_client):
        command = Command.objects.create(
            name="report", parameter_format_string="--rent-id {rent_id} --since {since}"
        )

        response = admin_client.post(
            reverse("admin:batchrun_job_add"),
            {
                "name": "rents",
                "command": command.pk,
                "arguments": '{"rent_id": 1}',
                "comment": "",
                "overlap_policy": "allow",
                "timeout": "",
            },
        )

        errors = response.context["adminform"].form.errors
        assert list(errors) == ["arguments"]
        assert errors["arguments"] == [
            "Argument since is missing; the command uses {since}."
        ]
        assert Job.objects.count() == 0

    def test_argument_that_is_not_a_scalar_is_reported_by_name(self, admin_client):
        command = Command.objects.create(
            name="report", parameter_format_string="{ids} {name}"
        )

        response = admin_client.post(
            reverse("admin:batchrun_job_add"),
            {
                "name": "rents",
                "command": command.pk,
                "arguments": '{"ids": [1, 2], "name": {"a": null}}',
                "comment": "",
                "overlap_policy": "allow",
                "timeout": "",
            },
        )

        errors = response.context["adminform"].form.errors["arguments"]
        assert errors == [
            "Argument ids is not a string, number or boolean: [1, 2].",
            "Argument name is not a string, number or boolean: {'a': None}.",
        ]

    def test_arguments_that_are_not_an_object_are_refused(self, admin_client):
        command = Command.objects.create(name="report")

        response = admin_client.post(
            reverse("admin:batchrun_job_add"),
            {
                "name": "rents",
                "command": command.pk,
                "arguments": "[1, 2]",
                "comment": "",
                "overlap_policy": "allow",
                "timeout": "",
            },
        )

        errors = response.context["adminform"].form.errors
        assert errors["arguments"] == ["Arguments must be a JSON object, e.g. {}."]

    def test_change_page_shows_the_command_line_and_recent_runs(self, admin_client):
        job = make_job(arguments={"rent_id": "7; rm -rf /"})
        run = JobRun.objects.create(job=job, status=JobRun.Status.KILLED)

        response = admin_client.get(reverse("admin:batchrun_job_change", args=[job.pk]))

        content = response.content.decode()
        assert "report --rent-id &#x27;7; rm -rf /&#x27;" in content
        assert reverse("admin:batchrun_jobrun_change", args=[run.pk]) in content
        assert "batchrun-status-killed" in content

    def test_run_now_button_shows_only_with_the_run_permission(
        self, client, django_user_model
    ):
        job = make_job()
        url = reverse("admin:batchrun_job_change", args=[job.pk])
        client.force_login(make_staff(django_user_model, "view_job"))
        without = client.get(url)
        client.force_login(make_staff(django_user_model, "view_job", "run_job"))
        with_permission = client.get(url)

        assert b'value="run_now"' not in without.content
        assert b'value="run_now"' in with_permission.content

    def test_run_now_without_the_run_permission_starts_nothing(
        self, client, django_user_model
    ):
        job = make_job()
        client.force_login(make_staff(django_user_model, "view_job", "change_job"))

        response = client.post(
            reverse("admin:batchrun_job_changelist"),
            {"action": "run_now", "_selected_action": [job.pk]},
        )

        assert response.status_code in (200, 302)
        assert JobRun.objects.count() == 0


def wait_for_finished_runs(count: int, timeout: float = 30.0) -> list[JobRun]:
    """Wait until ``count`` runs have finished; return them oldest first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        runs = list(JobRun.objects.finished().order_by("pk"))
        if len(runs) >= count:
            return runs
        time.sleep(0.1)
    states = list(JobRun.objects.values_list("pk", "status", "message"))
    pytest.fail(f"Runs did not finish within {timeout} s: {states}")


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
class TestRunNow:
    """The "Run now" action launches real executors through job_launching."""

    @pytest.fixture(autouse=True)
    def executor_environment(self, subprocess_env, monkeypatch):
        # A spawned executor (used when the process has threads) must reach
        # the test database; a forked one inherits it.
        for name, value in subprocess_env.items():
            monkeypatch.setenv(name, value)
        # A forked executor's DaemonContext rebinds sys.stdin, sys.stdout
        # and sys.stderr by their fileno(), which pytest's capture objects
        # refuse; give it the real streams.
        for name in ["stdin", "stdout", "stderr"]:
            monkeypatch.setattr(sys, name, getattr(sys, f"__{name}__"))

    def test_run_now_on_one_job_runs_it_and_opens_its_page(self, admin_client):
        command = Command.objects.create(
            name=sys.executable,
            parameter_format_string="-c 'import sys; print(sys.argv[1])' {text}",
        )
        job = Job.objects.create(
            name="echo", command=command, arguments={"text": "<b>hi</b> $(id)"}
        )

        response = admin_client.post(
            reverse("admin:batchrun_job_changelist"),
            {"action": "run_now", "_selected_action": [job.pk]},
        )
        [run] = wait_for_finished_runs(1)

        assert response.status_code == 302
        assert response["Location"] == reverse(
            "admin:batchrun_jobrun_change", args=[run.pk]
        )
        assert (run.status, run.trigger, run.exit_code) == ("succeeded", "manual", 0)
        page = admin_client.get(response["Location"]).content.decode()
        assert '<span class="batchrun-text">&lt;b&gt;hi&lt;/b&gt; $(id)</span>' in page

    def test_run_now_on_several_jobs_lists_the_started_runs(self, admin_client):
        command = Command.objects.create(name="true")
        jobs = [
            Job.objects.create(name=f"noop {number}", command=command)
            for number in range(2)
        ]

        response = admin_client.post(
            reverse("admin:batchrun_job_changelist"),
            {"action": "run_now", "_selected_action": [job.pk for job in jobs]},
            follow=True,
        )
        runs = wait_for_finished_runs(2)

        assert [(run.job_id, run.status) for run in runs] == [
            (jobs[0].pk, "succeeded"),
            (jobs[1].pk, "succeeded"),
        ]
        [message] = [str(message) for message in response.context["messages"]]
        assert message.startswith("Started 2 runs: <a href=")


class TestScheduledJobAdmin:
    def test_list_shows_rule_and_next_run_in_few_queries(
        self, admin_client, clock, django_assert_max_num_queries
    ):
        job = make_job()
        for hour in range(0, 24, 3):
            ScheduledJob.objects.create(job=job, hours=str(hour), minutes="30")
        ScheduledJob.objects.create(job=job, hours="5", enabled=False)

        clock("2030-01-15 12:00:00+00:00")
        # Session, user, two counts, page of schedules, timezone choices.
        with django_assert_max_num_queries(6):
            response = admin_client.get(
                reverse("admin:batchrun_scheduledjob_changelist")
            )

        assert response.status_code == 200
        content = response.content.decode()
        cells = re.findall(r'<td class="field-next_run">(.*?)</td>', content)
        # 12:00 UTC is 14:00 in Helsinki: 15:30 is next today, 00:30 tomorrow.
        assert cells == [
            "2030-01-16 00:30:00+02:00",
            "2030-01-16 03:30:00+02:00",
            "2030-01-16 06:30:00+02:00",
            "2030-01-16 09:30:00+02:00",
            "2030-01-16 12:30:00+02:00",
            "2030-01-15 15:30:00+02:00",
            "2030-01-15 18:30:00+02:00",
            "2030-01-15 21:30:00+02:00",
            '<span class="batchrun-muted">disabled</span>',
        ]
        rules = re.findall(r'<td class="field-rule">(.*?)</td>', content)
        assert rules[:2] == [
            "at 00:30, Europe/Helsinki",
            "at 03:30, Europe/Helsinki",
        ]

    def test_list_survives_a_rule_made_invalid_in_the_database(self, admin_client):
        schedule = ScheduledJob.objects.create(job=make_job(), hours="2")
        ScheduledJob.objects.filter(pk=schedule.pk).update(
            timezone="Nowhere/Atlantis", hours="99"
        )

        response = admin_client.get(reverse("admin:batchrun_scheduledjob_changelist"))
        page = admin_client.get(
            reverse("admin:batchrun_scheduledjob_change", args=[schedule.pk])
        )

        assert response.status_code == 200
        assert '<td class="field-rule">invalid rule</td>' in response.content.decode()
        assert '<td class="field-next_run">—</td>' in response.content.decode()
        assert page.status_code == 200
        assert b"Unknown timezone &#x27;Nowhere/Atlantis&#x27;" in page.content

    @pytest.mark.parametrize(
        ("field", "value", "message"),
        [
            ("hours", "25", "Invalid part '25' in hours specifier '25'"),
            ("minutes", "*/0", "values must be in 0-59"),
            ("weekdays", "7", "values must be in 0-6"),
            ("days_of_month", "0-5", "values must be in 1-31"),
            ("months", "jan", "values must be in 1-12"),
            ("years", "1969", "values must be in 1970-2200"),
        ],
    )
    def test_bad_specifier_is_reported_on_its_own_field_with_the_range(
        self, admin_client, field, value, message
    ):
        job = make_job()

        response = admin_client.post(
            reverse("admin:batchrun_scheduledjob_add"),
            schedule_form(job, **{field: value}),
        )

        assert response.status_code == 200
        errors = response.context["adminform"].form.errors
        assert list(errors) == [field]
        assert message in errors[field][0]
        assert ScheduledJob.objects.count() == 0

    def test_unknown_timezone_is_reported_on_the_timezone_field(self, admin_client):
        job = make_job()

        response = admin_client.post(
            reverse("admin:batchrun_scheduledjob_add"),
            schedule_form(job, timezone="Europe/Atlantis"),
        )

        errors = response.context["adminform"].form.errors
        assert list(errors) == ["timezone"]
        assert "Unknown timezone 'Europe/Atlantis'" in errors["timezone"][0]

    def test_rule_that_never_fires_again_is_refused(self, admin_client):
        job = make_job()

        response = admin_client.post(
            reverse("admin:batchrun_scheduledjob_add"),
            schedule_form(job, years="1990"),
        )

        errors = response.context["adminform"].form.errors
        assert errors["__all__"] == [
            "This rule never fires from now on; check the years and days."
        ]

    def test_valid_form_saves_and_sets_active_since_to_now(self, admin_client):
        job = make_job()

        with freeze_time("2030-01-15 12:00:00+00:00"):
            response = admin_client.post(
                reverse("admin:batchrun_scheduledjob_add"),
                schedule_form(job, weekdays="1-5", hours="22-2"),
            )

        assert response.status_code == 302
        schedule = ScheduledJob.objects.get()
        assert (schedule.weekdays, schedule.hours) == ("1-5", "22-2")
        assert schedule.active_since == datetime.datetime(
            2030, 1, 15, 12, tzinfo=datetime.UTC
        )

    def test_change_page_previews_next_events_with_a_moved_one(
        self, admin_client, clock
    ):
        clock("2030-03-29 12:00:00+00:00")
        schedule = ScheduledJob.objects.create(
            job=make_job(), timezone="Europe/Helsinki", hours="3", minutes="30"
        )

        response = admin_client.get(
            reverse("admin:batchrun_scheduledjob_change", args=[schedule.pk])
        )

        rows = preview_rows(response.content.decode())
        assert len(rows) == 10
        assert rows[:3] == [
            "Sat 2030-03-30 03:30+02:00 | 2030-03-30 01:30 |",
            "Sun 2030-03-31 04:30+03:00 | 2030-03-31 01:30 | moved 03:30 does "
            "not exist that day: clocks go forward",
            "Mon 2030-04-01 03:30+03:00 | 2030-04-01 00:30 |",
        ]

    def test_preview_marks_the_second_pass_of_a_repeated_time(
        self, admin_client, clock
    ):
        clock("2030-10-26 12:00:00+00:00")
        url = reverse("admin:batchrun_scheduledjob_preview")

        response = admin_client.get(
            url, {"timezone": "Europe/Helsinki", "hours": "2-4", "minutes": "30"}
        )

        rows = preview_rows(response.content.decode())
        assert rows[:5] == [
            "Sun 2030-10-27 02:30+03:00 | 2030-10-26 23:30 |",
            "Sun 2030-10-27 03:30+03:00 | 2030-10-27 00:30 |",
            "Sun 2030-10-27 03:30+02:00 | 2030-10-27 01:30 | repeated 03:30 "
            "occurs twice that day: clocks go back",
            "Sun 2030-10-27 04:30+02:00 | 2030-10-27 02:30 |",
            "Mon 2030-10-28 02:30+02:00 | 2030-10-28 00:30 |",
        ]

    def test_preview_of_a_bad_rule_shows_the_error_with_the_range(self, admin_client):
        response = admin_client.get(
            reverse("admin:batchrun_scheduledjob_preview"),
            {"timezone": "UTC", "hours": "24"},
        )

        assert response.status_code == 200
        assert b"values must be in 0-23" in response.content
        assert b"<table" not in response.content

    def test_preview_escapes_what_it_echoes(self, admin_client):
        response = admin_client.get(
            reverse("admin:batchrun_scheduledjob_preview"),
            {"timezone": "<b>x</b>"},
        )

        assert b"<b>x</b>" not in response.content
        assert b"&lt;b&gt;x&lt;/b&gt;" in response.content

    def test_preview_needs_a_permission_on_scheduled_jobs(
        self, client, django_user_model
    ):
        client.force_login(make_staff(django_user_model, "view_job"))

        response = client.get(reverse("admin:batchrun_scheduledjob_preview"))

        assert response.status_code == 403

    def test_enable_action_sets_active_since_so_missed_minutes_never_fire(
        self, admin_client
    ):
        job = make_job()
        with freeze_time("2030-01-01 00:00:00+00:00"):
            disabled = ScheduledJob.objects.create(job=job, enabled=False)
            enabled = ScheduledJob.objects.create(job=job, enabled=True)

        with freeze_time("2030-01-15 12:00:00+00:00"):
            response = admin_client.post(
                reverse("admin:batchrun_scheduledjob_changelist"),
                {"action": "enable", "_selected_action": [disabled.pk, enabled.pk]},
            )

        assert response.status_code == 302
        disabled.refresh_from_db()
        enabled.refresh_from_db()
        assert disabled.enabled is True
        assert disabled.active_since == datetime.datetime(
            2030, 1, 15, 12, tzinfo=datetime.UTC
        )
        # Already enabled: its active_since stays as it was.
        assert enabled.active_since == datetime.datetime(
            2030, 1, 1, tzinfo=datetime.UTC
        )

    def test_disable_action_disables_the_selected_schedules(self, admin_client):
        job = make_job()
        first = ScheduledJob.objects.create(job=job)
        second = ScheduledJob.objects.create(job=job)

        admin_client.post(
            reverse("admin:batchrun_scheduledjob_changelist"),
            {"action": "disable", "_selected_action": [first.pk]},
        )

        assert list(
            ScheduledJob.objects.order_by("pk").values_list("enabled", flat=True)
        ) == [False, True]
        second.refresh_from_db()
        assert second.enabled is True

    def test_enable_action_needs_the_change_permission(self, client, django_user_model):
        schedule = ScheduledJob.objects.create(job=make_job(), enabled=False)
        client.force_login(make_staff(django_user_model, "view_scheduledjob"))

        client.post(
            reverse("admin:batchrun_scheduledjob_changelist"),
            {"action": "enable", "_selected_action": [schedule.pk]},
        )

        schedule.refresh_from_db()
        assert schedule.enabled is False
