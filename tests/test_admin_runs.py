"""The admin of runs, their output and the schedulers, through the test client."""

import datetime
import re

import pytest
from django.urls import reverse
from django.utils import timezone

from batchrun.models import JobRun, LogChunk, SchedulerHeartbeat
from batchrun.output_text import encode_output

from .test_admin import make_job, make_staff

pytestmark = pytest.mark.django_db

STDOUT, STDERR = LogChunk.Stream.STDOUT, LogChunk.Stream.STDERR
T0 = datetime.datetime(2030, 1, 15, 10, 0, tzinfo=datetime.UTC)


def add_output(run: JobRun, *pieces: tuple[int, bytes], start=T0) -> None:
    """Store pieces of output as the executor does, one chunk per piece."""
    seq = LogChunk.objects.filter(run=run).count()
    line = 0
    chunks = []
    for offset, (stream, data) in enumerate(pieces):
        text, escaped = encode_output(data)
        chunks.append(
            LogChunk(
                run=run,
                seq=seq + offset,
                stream=stream,
                time=start + datetime.timedelta(seconds=offset),
                first_line=line,
                line_count=data.count(b"\n"),
                escaped=escaped,
                text=text,
            )
        )
        line += data.count(b"\n")
    LogChunk.objects.bulk_create(chunks)


def make_run(job=None, **fields) -> JobRun:
    values = {
        "status": JobRun.Status.SUCCEEDED,
        "started_at": T0,
        "stopped_at": T0 + datetime.timedelta(seconds=75),
        "exit_code": 0,
        "host": "worker-1",
        "pid": 4242,
        "command_line": ["report", "--rent-id", "7"],
    }
    values.update(fields)
    return JobRun.objects.create(job=job or make_job(), **values)


def terminal_lines(content: str) -> list[tuple[str, str, str]]:
    """Return the run page's output lines as (time, stream, text)."""
    found = re.findall(
        r'<div class="batchrun-line batchrun-line-(\w+)">'
        r"<time[^>]*>([^<]*)</time><span[^>]*>[^<]*</span>"
        r'<span class="batchrun-text">(.*?)</span></div>',
        content,
        re.DOTALL,
    )
    return [(time, stream, text) for stream, time, text in found]


def changelist_ids(response) -> list[int]:
    return [run.pk for run in response.context["cl"].result_list]


class TestRunList:
    def test_list_shows_runs_with_badges_in_few_queries(
        self, admin_client, django_assert_max_num_queries
    ):
        jobs = [make_job(f"job {number}") for number in range(5)]
        for number in range(40):
            make_run(jobs[number % 5], status=JobRun.Status.FAILED, exit_code=2)

        # Session, user, job filter choices, count, page of runs.
        with django_assert_max_num_queries(5):
            response = admin_client.get(reverse("admin:batchrun_jobrun_changelist"))

        assert response.status_code == 200
        content = response.content.decode()
        assert content.count('class="batchrun-badge batchrun-status-failed"') == 40
        assert '<td class="field-duration_text">1 min 15 s</td>' in content
        assert '<td class="field-host">worker-1</td>' in content

    @pytest.mark.parametrize(
        ("query", "expected"),
        [
            ({"status__exact": "failed"}, ["failed"]),
            ({"trigger__exact": "schedule"}, ["scheduled"]),
            ({"q": "nightly"}, ["scheduled"]),
            ({"q": "disk full"}, ["lost"]),
            ({"q": "cannot open"}, ["failed"]),
            ({"q": '"rows done"'}, ["ok"]),
        ],
        ids=["status", "trigger", "job-name", "message", "stderr", "quoted"],
    )
    def test_filters_and_search_find_the_right_runs(
        self, admin_client, query, expected
    ):
        runs = {
            "ok": make_run(make_job("report")),
            "failed": make_run(
                make_job("import"), status=JobRun.Status.FAILED, exit_code=1
            ),
            "scheduled": make_run(
                make_job("nightly cleanup"), trigger=JobRun.Trigger.SCHEDULE
            ),
            "lost": make_run(
                make_job("export"),
                status=JobRun.Status.LOST,
                message="The executor vanished: disk full.",
            ),
        }
        add_output(runs["ok"], (STDOUT, b"12 rows done\n"))
        add_output(runs["failed"], (STDERR, b"cannot open input.csv\n"))
        names = {run.pk: name for name, run in runs.items()}

        response = admin_client.get(reverse("admin:batchrun_jobrun_changelist"), query)

        assert [names[pk] for pk in changelist_ids(response)] == expected

    def test_search_in_output_lists_a_run_once_however_many_chunks_match(
        self, admin_client
    ):
        run = make_run()
        add_output(run, *[(STDOUT, b"Traceback\n")] * 5, (STDERR, b"Traceback\n"))

        response = admin_client.get(
            reverse("admin:batchrun_jobrun_changelist"), {"q": "traceback"}
        )

        assert changelist_ids(response) == [run.pk]
        assert response.context["cl"].result_count == 1

    def test_job_and_start_date_filters(self, admin_client):
        today = make_run(make_job("a"), started_at=timezone.now())
        make_run(make_job("b"), started_at=timezone.now())
        make_run(make_job("a"), started_at=timezone.now() - datetime.timedelta(days=3))
        url = reverse("admin:batchrun_jobrun_changelist")
        # The "Today" link of the date filter: local midnight to midnight.
        start = timezone.localtime().replace(hour=0, minute=0, second=0, microsecond=0)

        response = admin_client.get(
            url,
            {
                "job__id__exact": today.job_id,
                "started_at__gte": str(start),
                "started_at__lt": str(start + datetime.timedelta(days=1)),
            },
        )

        assert changelist_ids(response) == [today.pk]

    def test_runs_cannot_be_added_changed_or_deleted_by_bulk_action(self, admin_client):
        run = make_run()

        add = admin_client.get(reverse("admin:batchrun_jobrun_add"))
        change = admin_client.post(
            reverse("admin:batchrun_jobrun_change", args=[run.pk]), {"host": "x"}
        )
        listing = admin_client.get(reverse("admin:batchrun_jobrun_changelist"))

        assert add.status_code == 403
        assert change.status_code == 403
        assert b'value="delete_selected"' not in listing.content
        run.refresh_from_db()
        assert run.host == "worker-1"

    def test_a_running_run_cannot_be_deleted_even_by_a_superuser(self, admin_client):
        running = make_run(status=JobRun.Status.RUNNING, stopped_at=None)
        finished = make_run()

        refused = admin_client.post(
            reverse("admin:batchrun_jobrun_delete", args=[running.pk]), {"post": "yes"}
        )
        allowed = admin_client.post(
            reverse("admin:batchrun_jobrun_delete", args=[finished.pk]),
            {"post": "yes"},
        )

        assert refused.status_code == 403
        assert allowed.status_code == 302
        assert list(JobRun.objects.values_list("pk", flat=True)) == [running.pk]


class TestRunPermissions:
    def test_user_without_view_permission_sees_no_runs_nor_output(
        self, client, django_user_model
    ):
        run = make_run()
        add_output(run, (STDOUT, b"secret\n"))
        client.force_login(make_staff(django_user_model, "view_job"))

        urls = [
            reverse("admin:batchrun_jobrun_changelist"),
            reverse("admin:batchrun_jobrun_change", args=[run.pk]),
            reverse("admin:batchrun_jobrun_output", args=[run.pk]),
        ]
        statuses = [client.get(url).status_code for url in urls]

        assert statuses == [403, 403, 403]

    def test_anonymous_user_is_sent_to_the_login_page_for_output(self, client):
        run = make_run()
        add_output(run, (STDOUT, b"secret\n"))

        response = client.get(reverse("admin:batchrun_jobrun_output", args=[run.pk]))

        assert response.status_code == 302
        assert response["Location"].startswith("/admin/login/")

    def test_user_with_view_permission_reads_the_run_and_downloads_output(
        self, client, django_user_model
    ):
        run = make_run()
        add_output(run, (STDOUT, b"visible\n"))
        client.force_login(make_staff(django_user_model, "view_jobrun"))

        page = client.get(reverse("admin:batchrun_jobrun_change", args=[run.pk]))
        download = client.get(reverse("admin:batchrun_jobrun_output", args=[run.pk]))

        assert page.status_code == 200
        assert terminal_lines(page.content.decode()) == [
            ("12:00:00", "stdout", "visible")
        ]
        assert b"".join(download.streaming_content) == b"visible\n"

    def test_cancel_needs_the_cancel_permission(self, client, django_user_model):
        run = make_run(status=JobRun.Status.RUNNING, stopped_at=None)
        client.force_login(make_staff(django_user_model, "view_jobrun"))
        url = reverse("admin:batchrun_jobrun_changelist")

        page = client.get(reverse("admin:batchrun_jobrun_change", args=[run.pk]))
        client.post(url, {"action": "cancel", "_selected_action": [run.pk]})

        assert b'value="cancel"' not in page.content
        run.refresh_from_db()
        assert run.cancel_requested_at is None


class TestRunPage:
    def test_shows_command_line_message_and_output_with_streams_and_times(
        self, admin_client
    ):
        run = make_run(
            status=JobRun.Status.FAILED,
            exit_code=3,
            message="Exited with code 3.",
            command_line=["report", "--name", "a b", "--x=$(id)"],
        )
        add_output(
            run,
            (STDOUT, b"starting\nreading rents\n"),
            (STDERR, b"warning: slow disk\n"),
            (STDOUT, b"done\n"),
        )

        response = admin_client.get(
            reverse("admin:batchrun_jobrun_change", args=[run.pk])
        )

        content = response.content.decode()
        assert (
            '<code class="batchrun-command-line">report --name &#x27;a b&#x27; '
            "&#x27;--x=$(id)&#x27;</code>" in content
        )
        assert '<p class="batchrun-callout batchrun-callout-failed">' in content
        assert "Exited with code 3." in content
        assert terminal_lines(content) == [
            ("12:00:00", "stdout", "starting"),
            ("12:00:00", "stdout", "reading rents"),
            ("12:00:01", "stderr", "warning: slow disk"),
            ("12:00:02", "stdout", "done"),
        ]
        assert reverse("admin:batchrun_jobrun_output", args=[run.pk]) in content

    def test_html_in_output_is_shown_as_text(self, admin_client):
        run = make_run()
        add_output(
            run,
            (STDOUT, b"<script>alert('x')</script>\n"),
            (STDERR, b'<img src=x onerror="alert(1)">\n'),
        )

        response = admin_client.get(
            reverse("admin:batchrun_jobrun_change", args=[run.pk])
        )

        content = response.content.decode()
        assert "<script>alert" not in content
        assert "<img src=x" not in content
        assert [text for _, _, text in terminal_lines(content)] == [
            "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;",
            "&lt;img src=x onerror=&quot;alert(1)&quot;&gt;",
        ]

    def test_progress_bar_shows_its_last_state_with_a_mark(self, admin_client):
        run = make_run()
        add_output(
            run,
            (STDOUT, b"copying  10%\rcopying  55%\r"),
            (STDOUT, b"copying 100%\ndone\r\n"),
        )

        response = admin_client.get(
            reverse("admin:batchrun_jobrun_change", args=[run.pk])
        )

        lines = terminal_lines(response.content.decode())
        assert [(stream, text.split("<span")[0]) for _, stream, text in lines] == [
            ("stdout", "copying 100%"),
            ("stdout", "done"),
        ]
        assert 'class="batchrun-mark"' in lines[0][2]
        assert "batchrun-mark" not in lines[1][2]

    def test_long_output_shows_its_ends_and_the_number_of_lines_between(
        self, admin_client, django_assert_max_num_queries
    ):
        run = make_run()
        add_output(
            run,
            *[
                (STDOUT, b"".join(b"line %d\n" % (n * 100 + i) for i in range(100)))
                for n in range(30)
            ],
        )

        # Session, user, run, three reads of chunks, content type (log entry).
        with django_assert_max_num_queries(7):
            response = admin_client.get(
                reverse("admin:batchrun_jobrun_change", args=[run.pk])
            )

        content = response.content.decode()
        texts = [text for _, _, text in terminal_lines(content)]
        assert len(texts) == 1000
        assert texts[:2] == ["line 0", "line 1"]
        assert texts[499:501] == ["line 499", "line 2500"]
        assert texts[-1] == "line 2999"
        assert "2000 lines not shown here." in content

    def test_running_run_offers_cancel_and_the_action_asks_it_to_stop(
        self, admin_client
    ):
        running = make_run(status=JobRun.Status.RUNNING, stopped_at=None)
        finished = make_run()

        page = admin_client.get(
            reverse("admin:batchrun_jobrun_change", args=[running.pk])
        )
        finished_page = admin_client.get(
            reverse("admin:batchrun_jobrun_change", args=[finished.pk])
        )
        admin_client.post(
            reverse("admin:batchrun_jobrun_changelist"),
            {"action": "cancel", "_selected_action": [running.pk, finished.pk]},
        )

        assert b'value="cancel"' in page.content
        assert b'value="cancel"' not in finished_page.content
        running.refresh_from_db()
        finished.refresh_from_db()
        assert running.cancel_requested_at is not None
        assert finished.cancel_requested_at is None

    @pytest.mark.parametrize(
        ("status", "message"),
        [
            ("lost", "The executor stopped sending heartbeats."),
            ("launch_failed", "No such executable: 'reportt'."),
            ("skipped", "The previous run was still running."),
        ],
    )
    def test_message_of_an_unfinished_run_is_shown(self, admin_client, status, message):
        run = make_run(status=status, exit_code=None, message=message)

        response = admin_client.get(
            reverse("admin:batchrun_jobrun_change", args=[run.pk])
        )

        content = response.content.decode()
        callout = f'<p class="batchrun-callout batchrun-callout-{status}">'
        assert callout in content
        assert content.split(callout)[1].startswith(message.replace("'", "&#x27;"))


class TestOutputDownload:
    def test_download_restores_the_exact_bytes_in_order(self, admin_client):
        run = make_run()
        pieces = [
            (STDOUT, b"plain \\ text\n"),
            (STDERR, b"bad \xff\xfe bytes and NUL \x00 here\n"),
            (STDOUT, "emoji \U0001f600 and \\x00 literal\n".encode()),
            (STDOUT, b"no newline at end"),
        ]
        add_output(run, *pieces)
        url = reverse("admin:batchrun_jobrun_output", args=[run.pk])

        response = admin_client.get(url)
        stdout_only = admin_client.get(url, {"stream": "stdout"})

        assert response["Content-Type"] == "text/plain; charset=utf-8"
        assert response["Content-Disposition"] == (
            f'attachment; filename="run-{run.pk}.txt"'
        )
        assert b"".join(response.streaming_content) == b"".join(
            data for _, data in pieces
        )
        assert b"".join(stdout_only.streaming_content) == (
            b"plain \\ text\n"
            + "emoji \U0001f600 and \\x00 literal\n".encode()
            + b"no newline at end"
        )

    def test_download_of_an_unknown_stream_is_refused(self, admin_client):
        run = make_run()

        response = admin_client.get(
            reverse("admin:batchrun_jobrun_output", args=[run.pk]),
            {"stream": "stdin"},
        )

        assert response.status_code == 400

    def test_download_of_a_missing_run_is_not_found(self, admin_client):
        response = admin_client.get(
            reverse("admin:batchrun_jobrun_output", args=[987654])
        )

        assert response.status_code == 404


class TestSchedulerHeartbeats:
    def test_list_tells_live_schedulers_from_silent_ones(self, admin_client, settings):
        settings.BATCHRUN_LOST_AFTER = 60
        now = timezone.now()
        SchedulerHeartbeat.objects.create(
            host="alpha", pid=11, started_at=now, last_seen_at=now
        )
        SchedulerHeartbeat.objects.create(
            host="beta",
            pid=22,
            started_at=now - datetime.timedelta(hours=2),
            last_seen_at=now - datetime.timedelta(minutes=5),
        )

        response = admin_client.get(
            reverse("admin:batchrun_schedulerheartbeat_changelist")
        )

        content = response.content.decode()
        states = re.findall(
            r'<td class="field-state"><span [^>]*>(\w+)</span>', content
        )
        hosts = re.findall(r'<th class="field-host"><a [^>]*>(\w+)</a>', content)
        assert list(zip(hosts, states, strict=True)) == [
            ("alpha", "alive"),
            ("beta", "silent"),
        ]
        assert b"Add scheduler" not in response.content
