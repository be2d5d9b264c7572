"""Reading stored output back as display lines and as the original bytes."""

import datetime

import pytest

from batchrun.models import LogChunk
from batchrun.run_output import (
    OutputLine,
    chunks_to_lines,
    clean_line,
    get_output_excerpt,
    iter_output_bytes,
)

from .test_admin_runs import STDERR, STDOUT, T0, add_output, make_run


def chunk(stream: int, text: str, second: int = 0, escaped: bool = False) -> LogChunk:
    return LogChunk(
        stream=stream,
        text=text,
        escaped=escaped,
        time=T0 + datetime.timedelta(seconds=second),
    )


class TestCleanLine:
    @pytest.mark.parametrize(
        ("raw", "shown", "rewritten"),
        [
            ("plain", "plain", False),
            ("10%\r55%\r100%", "100%", True),
            ("abcdef\rXY", "XYcdef", True),
            ("windows line\r", "windows line", False),
            ("\x1b[31mred\x1b[0m text", "red text", False),
            ("\x1b]0;title\x07after", "after", False),
            ("bell\x07 nul\x00 del\x7f", "bell\u2407 nul\u2400 del\u2421", False),
            ("tab\tstays", "tab\tstays", False),
            ("\x1b[2K\rprogress 3/3", "progress 3/3", False),
        ],
        ids=[
            "plain",
            "progress",
            "overwrite",
            "crlf",
            "colours",
            "title",
            "controls",
            "tab",
            "erase-line",
        ],
    )
    def test_line_shows_as_a_terminal_would(self, raw, shown, rewritten):
        assert clean_line(raw) == (shown, rewritten)


class TestChunksToLines:
    def test_a_line_split_across_chunks_is_joined_even_with_stderr_between(self):
        lines = chunks_to_lines(
            [
                chunk(STDOUT, "first\nhalf a ", 0),
                chunk(STDERR, "warning\n", 1),
                chunk(STDOUT, "line\nlast", 2),
            ]
        )

        assert [(line.stream_name, line.text) for line in lines] == [
            ("stdout", "first"),
            ("stdout", "half a line"),
            ("stderr", "warning"),
            ("stdout", "last"),
        ]
        # A joined line keeps the time its first piece was read.
        assert lines[1].time == T0

    def test_escaped_chunk_shows_invalid_bytes_as_escapes(self):
        lines = chunks_to_lines(
            [chunk(STDOUT, "bad \\xff and \\x00 and \\\\ done\n", escaped=True)]
        )

        assert [line.text for line in lines] == ["bad \\xff and \u2400 and \\ done"]

    def test_very_long_line_is_cut_and_says_how_much(self):
        lines = chunks_to_lines(
            [chunk(STDOUT, "x" * 10_000 + "\n")], max_line_chars=100
        )

        assert lines == [OutputLine(STDOUT, T0, "x" * 100, cut_chars=9_900)]


@pytest.mark.django_db
class TestOutputExcerpt:
    def test_short_output_is_shown_whole(self):
        run = make_run()
        add_output(run, (STDOUT, b"a\nb\n"), (STDERR, b"c\n"))

        excerpt = get_output_excerpt(run, head_lines=2, tail_lines=2)

        assert [line.text for line in excerpt.head] == ["a", "b", "c"]
        assert (excerpt.tail, excerpt.omitted_lines) == ([], 0)

    def test_output_just_over_the_limit_is_split_by_lines(self):
        run = make_run()
        add_output(run, (STDOUT, b"".join(b"%d\n" % n for n in range(7))))

        excerpt = get_output_excerpt(run, head_lines=2, tail_lines=3)

        assert [line.text for line in excerpt.head] == ["0", "1"]
        assert [line.text for line in excerpt.tail] == ["4", "5", "6"]
        assert excerpt.omitted_lines == 2

    def test_many_chunks_are_read_only_at_the_ends(self, django_assert_num_queries):
        run = make_run()
        add_output(run, *[(STDOUT, b"%d\n" % n) for n in range(1000)])

        # One batch from the start, one from the end, the count between.
        with django_assert_num_queries(3):
            excerpt = get_output_excerpt(run, head_lines=3, tail_lines=3)

        assert [line.text for line in excerpt.head] == ["0", "1", "2"]
        assert [line.text for line in excerpt.tail] == ["997", "998", "999"]
        assert excerpt.omitted_lines == 994

    def test_empty_output_has_no_lines(self):
        excerpt = get_output_excerpt(make_run())

        assert (excerpt.head, excerpt.tail, excerpt.omitted_lines) == ([], [], 0)


@pytest.mark.django_db
def test_bytes_come_back_in_batches_in_the_order_read():
    run = make_run()
    pieces = [(STDOUT if n % 3 else STDERR, b"%d \xff\n" % n) for n in range(25)]
    add_output(run, *pieces)

    data = b"".join(iter_output_bytes(run, batch_size=4))

    assert data == b"".join(piece for _, piece in pieces)
