"""GET /batchrun/runlogs/<id>.json and .txt: a run's output, paged and whole."""

import pytest
from django.core import signing
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from batchrun.models import JobRun
from batchrun.output_text import decode_output
from tests.api_factories import add_output, make_job, make_run, make_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def reader(client):
    client.force_login(make_user())
    return client


@pytest.fixture
def run():
    return make_run(make_job())


# Pieces of output that exercise line ends, escaping and split characters.
OUTPUT_BITS = [b"a", b"\n", b"\n", b"\r", b"\\", b"\x00", b"\xff", b"\xc3", b"\xa9"]


def url(run: JobRun, query: str = "") -> str:
    return f"/batchrun/runlogs/{run.pk}.json" + (f"?{query}" if query else "")


def texts(data: dict) -> list[tuple[str, str, bool, bool]]:
    return [
        (entry["stream"], entry["text"], entry["complete"], entry["continues"])
        for entry in data["entries"]
    ]


def follow(client, start_url: str) -> list[dict]:
    """Read every page from start_url until ``next`` is null."""
    entries: list[dict] = []
    next_url = start_url
    for _page in range(10_000):
        data = client.get(next_url).json()
        entries += data["entries"]
        next_url = data["next"]
        if next_url is None:
            return entries
    raise AssertionError("next never became null")


def stream_bytes(entries: list[dict], stream: str) -> bytes:
    """Rebuild one stream's bytes from entries, as the README tells clients."""
    data = b""
    for entry in entries:
        if entry["stream"] == stream:
            data += decode_output(entry["text"], entry["escaped"])
            data += b"\n" if entry["complete"] else b""
    return data


class TestEntries:
    def test_the_run_comes_with_one_entry_per_line(self, reader, run):
        add_output(run, "stdout", b"first\nsecond\n", second=1)
        add_output(run, "stderr", b"warning: disk\n", second=2.25)

        data = reader.get(url(run)).json()

        assert data["id"] == run.pk
        assert data["status"] == "succeeded"
        assert data["entries"] == [
            {
                "stream": "stdout",
                "line": 1,
                "time": "2024-05-01T12:00:01+03:00",
                "text": "first",
                "escaped": False,
                "complete": True,
                "continues": False,
            },
            {
                "stream": "stdout",
                "line": 2,
                "time": "2024-05-01T12:00:01+03:00",
                "text": "second",
                "escaped": False,
                "complete": True,
                "continues": False,
            },
            {
                "stream": "stderr",
                "line": 3,
                "time": "2024-05-01T12:00:02.250000+03:00",
                "text": "warning: disk",
                "escaped": False,
                "complete": True,
                "continues": False,
            },
        ]
        assert data["next"] is None

    def test_a_line_split_between_chunks_is_one_entry_at_its_start(self, reader, run):
        add_output(run, "stdout", b"downloading...", second=1)
        add_output(run, "stderr", b"retrying\n", second=2)
        add_output(run, "stdout", b" done\n", second=3)

        data = reader.get(url(run)).json()

        assert texts(data) == [
            ("stdout", "downloading... done", True, False),
            ("stderr", "retrying", True, False),
        ]
        assert data["entries"][0]["time"] == "2024-05-01T12:00:01+03:00"

    def test_the_stream_filter_returns_one_stream(self, reader, run):
        add_output(run, "stdout", b"out 1\n")
        add_output(run, "stderr", b"err 1\nerr 2\n")
        add_output(run, "stdout", b"out 2\n")

        assert texts(reader.get(url(run, "stream=stderr")).json()) == [
            ("stderr", "err 1", True, False),
            ("stderr", "err 2", True, False),
        ]
        assert texts(reader.get(url(run, "stream=stdout")).json()) == [
            ("stdout", "out 1", True, False),
            ("stdout", "out 2", True, False),
        ]

    def test_bytes_that_are_not_utf8_come_escaped(self, reader, run):
        add_output(run, "stdout", b"ok \\ path\nbad \xff\x00 byte\n")

        entries = reader.get(url(run)).json()["entries"]

        assert [(entry["text"], entry["escaped"]) for entry in entries] == [
            ("ok \\\\ path", True),
            ("bad \\xff\\x00 byte", True),
        ]

    def test_a_character_split_between_chunks_is_joined_unescaped(self, reader, run):
        add_output(run, "stdout", "smørrebrød".encode()[:3])
        add_output(run, "stdout", "smørrebrød".encode()[3:] + b"\n")

        (entry,) = reader.get(url(run)).json()["entries"]

        assert (entry["text"], entry["escaped"]) == ("smørrebrød", False)

    def test_output_ending_without_a_newline_ends_with_an_incomplete_entry(
        self, reader, run
    ):
        add_output(run, "stdout", b"50%\r100%")

        data = reader.get(url(run)).json()

        assert texts(data) == [("stdout", "50%\r100%", False, False)]
        assert data["next"] is None


class TestFollowing:
    def test_a_running_run_always_has_a_next_url_to_poll(self, reader, run):
        JobRun.objects.filter(pk=run.pk).update(status="running")
        add_output(run, "stdout", b"step 1\n")

        first = reader.get(url(run)).json()
        idle = reader.get(first["next"]).json()

        assert texts(first) == [("stdout", "step 1", True, False)]
        assert idle["entries"] == []
        assert idle["next"] == first["next"]

    def test_polling_returns_only_new_lines_and_completes_an_open_line(
        self, reader, run
    ):
        JobRun.objects.filter(pk=run.pk).update(status="running")
        add_output(run, "stdout", b"step 1\nstep 2: copying")
        first = reader.get(url(run)).json()

        add_output(run, "stderr", b"slow disk\n")
        add_output(run, "stdout", b" 40%")
        second = reader.get(first["next"]).json()

        add_output(run, "stdout", b" done\nstep 3\n")
        JobRun.objects.filter(pk=run.pk).update(status="succeeded")
        third = reader.get(second["next"]).json()

        assert texts(first) == [
            ("stdout", "step 1", True, False),
            ("stdout", "step 2: copying", False, False),
        ]
        assert texts(second) == [
            ("stderr", "slow disk", True, False),
            ("stdout", " 40%", False, True),
        ]
        assert texts(third) == [
            ("stdout", " done", True, True),
            ("stdout", "step 3", True, False),
        ]
        assert third["next"] is None

    def test_small_pages_split_lines_and_chunks_without_losing_a_byte(
        self, reader, run
    ):
        add_output(run, "stdout", b"a1\na2\na3")
        add_output(run, "stderr", b"e1\ne2")
        add_output(run, "stdout", b"-end\na4\n")
        add_output(run, "stderr", b"-end\n")

        pages = []
        next_url = url(run, "limit=2")
        while next_url and len(pages) < 10:
            data = reader.get(next_url).json()
            pages.append(texts(data))
            next_url = data["next"]

        assert pages == [
            [("stdout", "a1", True, False), ("stdout", "a2", True, False)],
            [("stdout", "a3", False, False), ("stderr", "e1", True, False)],
            [("stderr", "e2", False, False), ("stdout", "-end", True, True)],
            [("stdout", "a4", True, False), ("stderr", "-end", True, True)],
        ]

    @settings(
        max_examples=40,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture],
    )
    @given(
        chunks=st.lists(
            st.tuples(
                st.sampled_from(["stdout", "stderr"]),
                st.lists(st.sampled_from(OUTPUT_BITS), min_size=1, max_size=8).map(
                    b"".join
                ),
            ),
            max_size=12,
        ),
        limit=st.integers(1, 4),
        stream=st.sampled_from(["", "stdout", "stderr"]),
    )
    def test_pages_of_any_size_rebuild_each_stream_exactly(
        self, reader, chunks, limit, stream
    ):
        run = make_run(make_job(f"job-{JobRun.objects.count()}"))
        for name, data in chunks:
            add_output(run, name, data)

        query = f"limit={limit}" + (f"&stream={stream}" if stream else "")
        entries = follow(reader, url(run, query))

        for name in [stream] if stream else ["stdout", "stderr"]:
            expected = b"".join(data for chunk, data in chunks if chunk == name)
            assert stream_bytes(entries, name) == expected
            mine = [entry for entry in entries if entry["stream"] == name]
            assert [entry["continues"] for entry in mine] == [
                False,
                *(not entry["complete"] for entry in mine[:-1]),
            ][: len(mine)]

    def test_query_count_does_not_grow_with_page_size_or_depth(
        self, reader, run, django_assert_num_queries
    ):
        for second in range(40):
            add_output(run, "stdout", b"line\n" * 30, second=second)
        deep = follow_pages(reader, url(run, "limit=100"), pages=10)

        # Session, user, permissions (2), the run, chunk sizes, chunk text.
        with django_assert_num_queries(7):
            assert len(reader.get(url(run, "limit=1")).json()["entries"]) == 1
        with django_assert_num_queries(7):
            assert len(reader.get(url(run, "limit=10000")).json()["entries"]) == 1200
        with django_assert_num_queries(7):
            assert len(reader.get(deep).json()["entries"]) == 100


def follow_pages(client, start_url: str, pages: int) -> str:
    next_url = start_url
    for _page in range(pages):
        next_url = client.get(next_url).json()["next"]
    return next_url


class TestErrors:
    def test_an_unknown_run_is_a_json_404(self, reader):
        response = reader.get("/batchrun/runlogs/987654.json")

        assert response.status_code == 404
        assert response.json() == {"error": "Run 987654 does not exist."}

    @pytest.mark.parametrize(
        ("path", "parameter", "message"),
        [
            ("abc.json", "id", "id must be a positive integer id, not 'abc'."),
            ("-1.json", "id", "id must be a positive integer id, not '-1'."),
            (
                "99999999999999999999.txt",
                "id",
                "id must be a positive integer id, not '99999999999999999999'.",
            ),
            (
                "1.json?stream=both",
                "stream",
                "Unknown stream 'both'; use stdout or stderr.",
            ),
            (
                "1.txt?stream=out",
                "stream",
                "Unknown stream 'out'; use stdout or stderr.",
            ),
            (
                "1.json?limit=10001",
                "limit",
                "limit must be an integer from 1 to 10000, not '10001'.",
            ),
            (
                "1.json?cursor=x",
                "cursor",
                "Unknown parameter 'cursor'; this endpoint takes stream, after, limit.",
            ),
            (
                "1.json?after=x",
                "after",
                "after is malformed or was altered; pass the next URL of an "
                "earlier response unchanged, or leave after out to start from "
                "the beginning.",
            ),
        ],
        ids=[
            "non-numeric-id",
            "negative-id",
            "id-beyond-64-bits",
            "unknown-stream",
            "unknown-stream-in-download",
            "limit-above-10000",
            "parameter-of-the-list",
            "malformed-after",
        ],
    )
    def test_bad_parameter_is_a_400_naming_it(self, reader, path, parameter, message):
        response = reader.get(f"/batchrun/runlogs/{path}")

        assert response.status_code == 400
        assert response.json() == {"error": message, "parameter": parameter}

    @pytest.mark.parametrize(
        ("values", "query"),
        [([0, 0, 5, 0, 0], ""), ([0, 1, 5, 0, 0], "stream=stderr")],
        ids=["another-run", "another-stream-filter"],
    )
    def test_a_cursor_is_valid_only_for_its_run_and_stream(
        self, reader, run, values, query
    ):
        values[0] = run.pk + 1 if query == "" else run.pk
        token = signing.dumps(values, salt="batchrun.cursor.output", compress=False)

        response = reader.get(url(run, query), {"after": token})

        assert response.status_code == 400
        assert response.json()["parameter"] == "after"


class TestDownload:
    def test_the_text_is_the_exact_bytes_in_the_order_read(self, reader, run):
        add_output(run, "stdout", b"caf\xc3")
        add_output(run, "stderr", b"\x00err\r\n")
        add_output(run, "stdout", b"\xa9 \xff\\x41\n")

        response = reader.get(f"/batchrun/runlogs/{run.pk}.txt")

        assert response.status_code == 200
        assert response["Content-Type"] == "text/plain; charset=utf-8"
        assert response["Content-Disposition"] == (
            f'attachment; filename="batchrun-run-{run.pk}.txt"'
        )
        assert b"".join(response.streaming_content) == (
            b"caf\xc3\x00err\r\n\xa9 \xff\\x41\n"
        )

    def test_the_text_of_one_stream(self, reader, run):
        add_output(run, "stdout", b"out\n")
        add_output(run, "stderr", b"err\n")

        response = reader.get(f"/batchrun/runlogs/{run.pk}.txt?stream=stderr")

        assert b"".join(response.streaming_content) == b"err\n"
        assert response["Content-Disposition"] == (
            f'attachment; filename="batchrun-run-{run.pk}-stderr.txt"'
        )

    def test_the_text_of_an_unknown_run_is_a_json_404(self, reader):
        response = reader.get("/batchrun/runlogs/987654.txt")

        assert response.status_code == 404
        assert response.json() == {"error": "Run 987654 does not exist."}
