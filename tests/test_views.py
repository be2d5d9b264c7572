"""GET /batchrun/runlogs.json: the list of runs, its filters and its pages."""

import datetime

import pytest
from django.core import signing

from batchrun.models import JobRun, ScheduledJob
from tests.api_factories import T0, make_job, make_run, make_user

pytestmark = pytest.mark.django_db

URL = "/batchrun/runlogs.json"


@pytest.fixture
def reader(client):
    client.force_login(make_user())
    return client


def ids(response) -> list[int]:
    return [run["id"] for run in response.json()["results"]]


def walk(client, url: str) -> tuple[list[int], int]:
    """Follow ``next`` links from url; return all run ids and the page count."""
    found: list[int] = []
    pages = 0
    while url and pages < 1000:
        response = client.get(url)
        assert response.status_code == 200, response.json()
        found += ids(response)
        url = response.json()["next"]
        pages += 1
    return found, pages


class TestRunObject:
    def test_a_run_has_every_field_with_times_in_the_current_zone(self, reader):
        job = make_job()
        run = make_run(job, stdout_lines=12, stderr_lines=1, output_bytes=300)

        response = reader.get(URL)

        assert response.status_code == 200
        assert response["Content-Type"] == "application/json"
        assert response.json() == {
            "results": [
                {
                    "id": run.pk,
                    "job": {"id": job.pk, "name": "send-invoices"},
                    "scheduled_job": None,
                    "trigger": "manual",
                    "scheduled_for": None,
                    "status": "succeeded",
                    "exit_code": 0,
                    "message": "",
                    "host": "worker-1",
                    "pid": 4242,
                    "created_at": "2024-05-01T12:00:00+03:00",
                    "started_at": "2024-05-01T12:00:01+03:00",
                    "stopped_at": "2024-05-01T12:00:03.500000+03:00",
                    "duration": 2.5,
                    "command_line": ["send_invoices", "--rent-id", "123"],
                    "stdout_lines": 12,
                    "stderr_lines": 1,
                    "output_bytes": 300,
                    "dropped_bytes": 0,
                    "log_url": f"http://testserver/batchrun/runlogs/{run.pk}.json",
                    "text_url": f"http://testserver/batchrun/runlogs/{run.pk}.txt",
                }
            ],
            "next": None,
        }

    def test_a_skipped_run_has_no_start_no_duration_and_its_reason(self, reader):
        make_run(
            make_job(),
            status=JobRun.Status.SKIPPED,
            started_at=None,
            stopped_at=None,
            exit_code=None,
            message="The previous run was still running.",
        )

        (run,) = reader.get(URL).json()["results"]

        assert (run["started_at"], run["duration"], run["message"]) == (
            None,
            None,
            "The previous run was still running.",
        )

    def test_a_running_run_reports_its_duration_so_far(self, reader):
        started = datetime.datetime.now(datetime.UTC) - datetime.timedelta(minutes=2)
        make_run(make_job(), status="running", started_at=started, stopped_at=None)

        (run,) = reader.get(URL).json()["results"]

        assert 120 <= run["duration"] < 180

    def test_a_scheduled_run_names_its_schedule_and_occurrence(self, reader):
        job = make_job()
        schedule = ScheduledJob.objects.create(job=job, timezone="UTC", minutes="0")
        make_run(
            job,
            scheduled_job=schedule,
            scheduled_for=T0,
            trigger=JobRun.Trigger.SCHEDULE,
        )

        (run,) = reader.get(URL).json()["results"]

        assert (run["scheduled_job"], run["trigger"], run["scheduled_for"]) == (
            schedule.pk,
            "schedule",
            "2024-05-01T12:00:00+03:00",
        )


class TestPages:
    def test_runs_come_newest_first(self, reader):
        job = make_job()
        runs = [make_run(job, minute) for minute in (5, 1, 9, 3)]

        assert ids(reader.get(URL)) == [runs[2].pk, runs[0].pk, runs[3].pk, runs[1].pk]

    def test_following_next_returns_every_run_once_even_with_equal_times(self, reader):
        job = make_job()
        # Seven runs share a creation time, so the pages split a tie.
        expected = [make_run(job, minute // 7).pk for minute in range(23)]
        expected.sort(key=lambda pk: (JobRun.objects.get(pk=pk).created_at, pk))
        expected.reverse()

        found, pages = walk(reader, f"{URL}?limit=5")

        assert found == expected
        assert pages == 5

    def test_the_last_page_has_no_next(self, reader):
        job = make_job()
        for minute in range(3):
            make_run(job, minute)

        assert reader.get(f"{URL}?limit=3").json()["next"] is None
        assert reader.get(f"{URL}?limit=2").json()["next"] is not None

    def test_next_keeps_the_filters(self, reader):
        job, other = make_job(), make_job("other")
        for minute in range(6):
            make_run(job if minute % 2 else other, minute, exit_code=minute % 3)

        found, _pages = walk(reader, f"{URL}?job={job.pk}&status=succeeded&limit=1")

        assert found == list(
            JobRun.objects.filter(job=job)
            .order_by("-created_at")
            .values_list("pk", flat=True)
        )

    def test_runs_recorded_after_a_page_was_read_do_not_shift_later_pages(self, reader):
        job = make_job()
        old = [make_run(job, minute).pk for minute in range(4)]
        first = reader.get(f"{URL}?limit=2").json()

        make_run(job, 10)
        second = reader.get(first["next"]).json()

        assert [run["id"] for run in second["results"]] == [old[1], old[0]]

    def test_query_count_does_not_grow_with_page_size_or_depth(
        self, reader, django_assert_num_queries
    ):
        job = make_job()
        for minute in range(30):
            make_run(job, minute)
        deep = reader.get(f"{URL}?limit=25").json()["next"]

        # Session, user, the user's and the groups' permissions, the page.
        with django_assert_num_queries(5):
            assert len(ids(reader.get(f"{URL}?limit=1"))) == 1
        with django_assert_num_queries(5):
            assert len(ids(reader.get(f"{URL}?limit=500"))) == 30
        with django_assert_num_queries(5):
            assert len(ids(reader.get(deep))) == 5


class TestFilters:
    @pytest.fixture
    def runs(self):
        job, other = make_job(), make_job("other")
        return {
            "ok": make_run(job, 1),
            "failed": make_run(job, 2, status="failed", exit_code=3),
            "lost": make_run(other, 3, status="lost", exit_code=None),
            "skipped": make_run(
                other, 4, status="skipped", started_at=None, exit_code=None
            ),
            "killed": make_run(job, 5, status="killed", exit_code=-15),
        }

    def names(self, runs, response) -> list[str]:
        by_pk = {run.pk: name for name, run in runs.items()}
        assert response.status_code == 200, response.json()
        return [by_pk[pk] for pk in ids(response)]

    @pytest.mark.parametrize(
        ("query", "expected"),
        [
            ("status=failed", ["failed"]),
            ("status=failed&status=lost", ["lost", "failed"]),
            ("status=failed,lost", ["lost", "failed"]),
            ("status=failed, lost&status=killed", ["killed", "lost", "failed"]),
            ("exit_code=3", ["failed"]),
            ("exit_code=-15", ["killed"]),
            ("started_after=2024-05-01T12:03:00%2B03:00", ["killed", "lost"]),
            ("started_after=2024-05-01T09:03:00Z", ["killed", "lost"]),
            ("started_after=2024-05-01T12:03:00 03:00", ["killed", "lost"]),
            ("started_after=2024-05-01T12:03:00", ["killed", "lost"]),
            ("started_before=2024-05-01T12:02:01%2B03:00", ["ok"]),
            ("started_before=2024-05-02", ["killed", "lost", "failed", "ok"]),
            ("started_after=2024-05-02", []),
            ("job=&status=&exit_code=", ["killed", "skipped", "lost", "failed", "ok"]),
        ],
        ids=[
            "one-status",
            "repeated-status",
            "comma-separated-status",
            "both-forms",
            "exit-code",
            "negative-exit-code",
            "started-after-with-offset",
            "started-after-utc",
            "unencoded-plus-sign",
            "naive-time-in-current-zone",
            "started-before-is-exclusive",
            "date-alone-is-midnight",
            "nothing-after",
            "empty-values-are-ignored",
        ],
    )
    def test_filter(self, reader, runs, query, expected):
        assert self.names(runs, reader.get(f"{URL}?{query}")) == expected

    def test_started_before_finds_a_run_recorded_after_its_start(self, reader):
        # A clock that stepped back an hour between recording and start.
        run = make_run(
            make_job(),
            created_at=T0 + datetime.timedelta(hours=1),
            started_at=T0,
        )

        response = reader.get(f"{URL}?started_before=2024-05-01T09:30:00Z")

        assert ids(response) == [run.pk]

    def test_job_filter(self, reader, runs):
        response = reader.get(f"{URL}?job={runs['lost'].job_id}")

        assert self.names(runs, response) == ["skipped", "lost"]

    def test_scheduled_job_filter(self, reader, runs):
        schedule = ScheduledJob.objects.create(job=runs["ok"].job, timezone="UTC")
        JobRun.objects.filter(pk=runs["failed"].pk).update(scheduled_job=schedule)

        response = reader.get(f"{URL}?scheduled_job={schedule.pk}")

        assert self.names(runs, response) == ["failed"]

    def test_an_unknown_job_gives_an_empty_page(self, reader, runs):
        assert reader.get(f"{URL}?job=999999").json() == {"results": [], "next": None}


class TestParameterErrors:
    @pytest.mark.parametrize(
        ("query", "parameter", "message"),
        [
            (
                "status=done",
                "status",
                "Unknown status 'done'; use one or several of running, "
                "succeeded, failed, killed, timed_out, lost, launch_failed, "
                "skipped.",
            ),
            (
                "status=failed,Failed",
                "status",
                "Unknown status 'Failed'; use one or several of running, "
                "succeeded, failed, killed, timed_out, lost, launch_failed, "
                "skipped.",
            ),
            ("job=abc", "job", "job must be a positive integer id, not 'abc'."),
            ("job=0", "job", "job must be a positive integer id, not '0'."),
            (
                "job=99999999999999999999",
                "job",
                "job must be a positive integer id, not '99999999999999999999'.",
            ),
            ("job=1&job=2", "job", "Give job at most once; it was given 2 times."),
            (
                "scheduled_job=1.5",
                "scheduled_job",
                "scheduled_job must be a positive integer id, not '1.5'.",
            ),
            (
                "exit_code=2147483648",
                "exit_code",
                "exit_code must be an integer from -2147483648 to 2147483647, "
                "not '2147483648'.",
            ),
            (
                "exit_code=%00",
                "exit_code",
                "exit_code must be an integer from -2147483648 to 2147483647, "
                "not '\\x00'.",
            ),
            (
                "started_after=yesterday",
                "started_after",
                "started_after must be an ISO 8601 date or date and time such "
                "as 2024-05-01 or 2024-05-01T13:30:00+03:00, not 'yesterday'.",
            ),
            (
                "started_before=2024-13-01",
                "started_before",
                "started_before must be an ISO 8601 date or date and time such "
                "as 2024-05-01 or 2024-05-01T13:30:00+03:00, not '2024-13-01'.",
            ),
            (
                "started_before=0001-01-01T00:00:00%2B14:00",
                "started_before",
                "started_before must be an ISO 8601 date or date and time such "
                "as 2024-05-01 or 2024-05-01T13:30:00+03:00, not "
                "'0001-01-01T00:00:00+14:00'.",
            ),
            ("limit=0", "limit", "limit must be an integer from 1 to 500, not '0'."),
            (
                "limit=501",
                "limit",
                "limit must be an integer from 1 to 500, not '501'.",
            ),
            (
                "limit=ten",
                "limit",
                "limit must be an integer from 1 to 500, not 'ten'.",
            ),
            (
                "stauts=failed",
                "stauts",
                "Unknown parameter 'stauts'; this endpoint takes job, "
                "scheduled_job, status, exit_code, started_after, "
                "started_before, limit, cursor.",
            ),
        ],
        ids=[
            "unknown-status",
            "status-is-case-sensitive",
            "non-numeric-job",
            "zero-job",
            "job-beyond-64-bits",
            "repeated-job",
            "fractional-scheduled-job",
            "exit-code-beyond-32-bits",
            "nul-byte",
            "words-for-a-date",
            "month-13",
            "instant-before-year-1-utc",
            "limit-zero",
            "limit-above-500",
            "limit-not-a-number",
            "misspelt-parameter",
        ],
    )
    def test_bad_parameter_is_a_400_naming_it(self, reader, query, parameter, message):
        response = reader.get(f"{URL}?{query}")

        assert response.status_code == 400
        assert response.json() == {"error": message, "parameter": parameter}

    @pytest.mark.parametrize(
        "cursor",
        [
            "garbage",
            "WzEsMl0:1xZD0P:forged-signature",
            signing.dumps([1, 2], salt="batchrun.cursor.runs", key="another-key"),
            signing.dumps([1, 2], salt="batchrun.cursor.output"),
            signing.dumps(["2024-05-01", 2], salt="batchrun.cursor.runs"),
            signing.dumps([1, 2, 3], salt="batchrun.cursor.runs"),
        ],
        ids=[
            "garbage",
            "forged-signature",
            "signed-with-another-key",
            "a-cursor-of-another-kind",
            "signed-but-not-integers",
            "signed-but-too-long",
        ],
    )
    def test_a_malformed_or_forged_cursor_is_a_400(self, reader, cursor):
        make_run(make_job())

        response = reader.get(URL, {"cursor": cursor})

        assert response.status_code == 400
        assert response.json() == {
            "error": "cursor is malformed or was altered; pass the next URL of "
            "an earlier response unchanged, or leave cursor out to start from "
            "the beginning.",
            "parameter": "cursor",
        }

    def test_an_empty_cursor_means_the_first_page(self, reader):
        run = make_run(make_job())

        assert ids(reader.get(f"{URL}?cursor=")) == [run.pk]

    def test_an_altered_cursor_cannot_skip_ahead(self, reader):
        job = make_job()
        for minute in range(3):
            make_run(job, minute)
        token = reader.get(f"{URL}?limit=1").json()["next"].split("cursor=")[1]
        payload, rest = token.split("%3A", 1)
        forged = signing.b64_encode(b"[1714554000000000,1]").decode() + "%3A" + rest

        assert payload != forged.split("%3A")[0]
        assert reader.get(f"{URL}?limit=1&cursor={forged}").status_code == 400
