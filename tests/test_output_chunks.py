"""Tests for batchrun.output_chunks: reads to numbered chunks under a cap."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from batchrun.output_chunks import (
    STDERR,
    STDOUT,
    ChunkData,
    LineChunker,
    OutputLog,
    complete_length,
    count_lines,
    utf8_cut,
)


def chunk_tuples(chunker: LineChunker) -> list[tuple[int, float, bytes]]:
    return [(c.stream, c.time, c.data) for c in chunker.take_chunks()]


class TestHelpers:
    @pytest.mark.parametrize(
        ("data", "expected"),
        [(b"", 1), (b"a", 1), (b"a\n", 1), (b"a\nb", 2), (b"\n\n", 2)],
    )
    def test_count_lines_counts_an_unfinished_line(self, data, expected):
        assert count_lines(data) == expected

    @pytest.mark.parametrize(
        ("data", "limit", "expected"),
        [
            (b"abcdef", 3, 3),
            ("a\u00e9b".encode(), 2, 1),
            ("a\U0001f389b".encode(), 3, 1),
            ("a\U0001f389b".encode(), 5, 5),
            (b"\x80\x80\x80\x80\x80\x80", 4, 4),
            (b"\x00\x00\x80\x00", 2, 2),
            (b"abc", 10, 10),
        ],
        ids=[
            "ascii",
            "inside 2 bytes",
            "inside 4 bytes",
            "after",
            "not utf8",
            "lone continuation",
            "end",
        ],
    )
    def test_utf8_cut_splits_no_character(self, data, limit, expected):
        assert utf8_cut(data, limit) == expected

    @pytest.mark.parametrize(
        ("data", "expected"),
        [
            (b"abc", 3),
            ("ab\u00e9".encode(), 4),
            ("ab\u00e9".encode()[:-1], 2),
            ("\U0001f389".encode()[:3], 0),
            (b"ab\xff", 3),
            (b"ab\xc0", 3),
        ],
    )
    def test_complete_length_leaves_out_an_unfinished_character(self, data, expected):
        assert complete_length(data) == expected


class TestLineChunker:
    def test_lines_read_together_make_one_chunk(self):
        chunker = LineChunker()

        chunker.feed(STDOUT, 100.0, b"one\ntwo\n")
        chunker.feed(STDOUT, 100.05, b"three\n")

        assert chunk_tuples(chunker) == [(STDOUT, 100.0, b"one\ntwo\nthree\n")]

    def test_a_read_after_the_window_starts_a_new_chunk(self):
        chunker = LineChunker(window=0.1)

        chunker.feed(STDOUT, 100.0, b"one\n")
        chunker.feed(STDOUT, 100.5, b"two\n")

        assert chunk_tuples(chunker) == [
            (STDOUT, 100.0, b"one\n"),
            (STDOUT, 100.5, b"two\n"),
        ]

    def test_streams_keep_their_order_in_separate_chunks(self):
        chunker = LineChunker()

        chunker.feed(STDOUT, 1.0, b"out 1\n")
        chunker.feed(STDERR, 1.01, b"err 1\n")
        chunker.feed(STDOUT, 1.02, b"out 2\n")

        assert chunk_tuples(chunker) == [
            (STDOUT, 1.0, b"out 1\n"),
            (STDERR, 1.01, b"err 1\n"),
            (STDOUT, 1.02, b"out 2\n"),
        ]

    def test_an_unfinished_line_waits_for_its_newline(self):
        chunker = LineChunker()

        chunker.feed(STDOUT, 1.0, b"done\nhalf a li")
        first = chunk_tuples(chunker)
        chunker.feed(STDOUT, 1.3, b"ne\n")

        assert first == [(STDOUT, 1.0, b"done\n")]
        assert chunk_tuples(chunker) == [(STDOUT, 1.3, b"half a line\n")]

    def test_an_unfinished_line_is_stored_as_a_piece_after_waiting(self):
        chunker = LineChunker(partial_wait=0.5)
        chunker.feed(STDOUT, 1.0, b"Progress: 10%\r")

        chunker.flush_due(1.4)
        before = chunk_tuples(chunker)
        chunker.flush_due(1.5)

        assert before == []
        assert chunk_tuples(chunker) == [(STDOUT, 1.0, b"Progress: 10%\r")]
        assert chunker.next_flush_time() is None

    def test_a_piece_keeps_back_an_unfinished_character(self):
        chunker = LineChunker(partial_wait=0.5)
        chunker.feed(STDOUT, 1.0, "caf\u00e9".encode()[:-1])

        chunker.flush_due(2.0)

        assert chunk_tuples(chunker) == [(STDOUT, 1.0, b"caf")]
        assert chunker.next_flush_time() == 2.5

    def test_a_long_line_is_split_into_pieces(self):
        chunker = LineChunker(piece_bytes=4)

        chunker.feed(STDOUT, 1.0, b"abcdefghij")
        chunker.feed(STDOUT, 2.0, b"k\n")

        assert [data for _s, _t, data in chunk_tuples(chunker)] == [
            b"abcd",
            b"efgh",
            b"ijk\n",
        ]

    def test_pieces_do_not_split_characters(self):
        chunker = LineChunker(piece_bytes=4)

        chunker.feed(STDOUT, 1.0, "ab\U0001f389\n".encode())

        assert [data for _s, _t, data in chunk_tuples(chunker)] == [
            b"ab",
            "\U0001f389".encode(),
            b"\n",
        ]

    def test_chunks_end_at_a_line_end_when_one_is_near(self):
        chunker = LineChunker(piece_bytes=10)

        chunker.feed(STDOUT, 1.0, b"aaa\nbbb\ncccc\n")

        assert [data for _s, _t, data in chunk_tuples(chunker)] == [
            b"aaa\nbbb\n",
            b"cccc\n",
        ]

    def test_flush_all_stores_every_unfinished_line(self):
        chunker = LineChunker()
        chunker.feed(STDOUT, 1.0, b"no newline")
        chunker.feed(STDERR, 1.0, b"\xc3")

        chunker.flush_all()

        assert chunk_tuples(chunker) == [
            (STDOUT, 1.0, b"no newline"),
            (STDERR, 1.0, b"\xc3"),
        ]

    @given(
        st.lists(
            st.tuples(
                st.sampled_from([STDOUT, STDERR]),
                st.binary(max_size=40).map(lambda b: b.replace(b"x", b"\n")),
            ),
            max_size=30,
        ),
        st.integers(min_value=4, max_value=20),
    )
    def test_any_reads_come_back_per_stream_in_bounded_chunks(self, reads, piece):
        chunker = LineChunker(piece_bytes=piece, partial_wait=1.0)
        chunks = []
        for number, (stream, data) in enumerate(reads):
            chunker.feed(stream, number * 0.3, data)
            chunker.flush_due(number * 0.3)
            chunks += chunker.take_chunks()
        chunker.flush_all()
        chunks += chunker.take_chunks()

        for stream in (STDOUT, STDERR):
            sent = b"".join(data for s, data in reads if s == stream)
            stored = b"".join(c.data for c in chunks if c.stream == stream)
            assert stored == sent
        assert all(0 < len(c.data) <= piece for c in chunks)
        assert [c.time for c in chunks] == sorted(c.time for c in chunks)


def add_all(log: OutputLog, pieces: list[tuple[int, bytes]]) -> None:
    for number, (stream, data) in enumerate(pieces):
        log.add(ChunkData(stream, float(number), data))


class TestOutputLog:
    def test_chunks_are_numbered_with_their_lines(self):
        log = OutputLog(max_bytes=1000)

        add_all(log, [(STDOUT, b"a\nb\n"), (STDERR, b"c\n"), (STDOUT, b"piece")])

        assert [(c.seq, c.first_line, c.line_count) for c in log.unsaved] == [
            (0, 1, 2),
            (1, 3, 1),
            (2, 4, 1),
        ]
        assert log.line_counts == {STDOUT: 3, STDERR: 1}
        assert log.output_bytes == 11
        assert log.next_line == 5

    def test_saved_chunks_are_forgotten(self):
        log = OutputLog(max_bytes=1000)
        add_all(log, [(STDOUT, b"a\n")])

        log.take_saved()
        add_all(log, [(STDOUT, b"b\n")])

        assert [c.seq for c in log.unsaved] == [1]
        assert log.unsaved_bytes == 2

    def test_the_head_is_kept_exactly_to_half_the_cap(self):
        log = OutputLog(max_bytes=20)

        add_all(log, [(STDOUT, b"0123456\n"), (STDOUT, b"abcdefgh\n")])

        head = [c.data for c in log.unsaved][:2]
        assert head == [b"0123456\n", b"ab"]

    def test_output_beyond_the_cap_is_dropped_from_the_middle(self):
        log = OutputLog(max_bytes=20)
        lines = [(STDOUT, b"line %02d\n" % n) for n in range(10)]

        add_all(log, lines)

        stored = b"".join(c.data for c in log.unsaved)
        everything = b"".join(data for _stream, data in lines)
        assert stored.startswith(everything[:10])
        assert stored[10:] == everything[-(len(stored) - 10) :]
        assert len(stored) - 10 >= 10
        assert log.dropped_bytes == len(everything) - len(stored)
        assert log.output_bytes == len(everything)

    def test_dropped_chunks_already_saved_are_deleted(self):
        log = OutputLog(max_bytes=8)
        add_all(log, [(STDOUT, b"abcd"), (STDOUT, b"1234")])
        log.take_saved()

        add_all(log, [(STDOUT, b"5678")])

        assert [c.seq for c in log.unsaved] == [2]
        assert log.unsaved_deletions == [(1, 1)]
        assert log.dropped_bytes == 4

    def test_a_tail_chunk_larger_than_the_tail_is_cut_at_its_front(self):
        log = OutputLog(max_bytes=8)

        add_all(log, [(STDOUT, b"ab\ncd\nef\ngh\n")])

        assert [c.data for c in log.unsaved] == [b"ab\nc", b"\ngh\n"]
        assert log.dropped_bytes == 4
        assert [(c.first_line, c.line_count) for c in log.unsaved] == [
            (1, 2),
            (5, 2),
        ]

    def test_describe_cut_names_the_dropped_bytes_and_lines(self):
        log = OutputLog(max_bytes=8)
        add_all(log, [(STDOUT, b"a\n"), (STDOUT, b"b\n")] * 5)

        assert log.dropped_lines == (3, 8)
        assert log.describe_cut() == (
            "The output exceeded BATCHRUN_MAX_OUTPUT_BYTES (8 bytes): 12 bytes "
            "in the middle (lines 3 to 8) were dropped; the first and last "
            "lines are kept."
        )

    def test_describe_cut_is_empty_under_the_cap(self):
        log = OutputLog(max_bytes=100)
        add_all(log, [(STDOUT, b"a\n")])

        assert log.dropped_lines is None
        assert log.describe_cut() == ""

    @given(
        st.lists(
            st.tuples(st.sampled_from([STDOUT, STDERR]), st.binary(min_size=1)),
            max_size=40,
        ),
        st.integers(min_value=2, max_value=200),
        st.lists(st.booleans(), min_size=40, max_size=40),
    )
    def test_head_and_tail_are_kept_and_the_rest_counted(self, pieces, cap, saves):
        log = OutputLog(max_bytes=cap)
        database = {}
        for number, (stream, data) in enumerate(pieces):
            log.add(ChunkData(stream, float(number), data))
            if saves[number]:
                for first, last in log.unsaved_deletions:
                    for seq in range(first, last + 1):
                        database.pop(seq, None)
                database.update((c.seq, c) for c in log.unsaved)
                log.take_saved()
        for first, last in log.unsaved_deletions:
            for seq in range(first, last + 1):
                database.pop(seq, None)
        database.update((c.seq, c) for c in log.unsaved)

        stored = b"".join(database[seq].data for seq in sorted(database))
        everything = b"".join(data for _stream, data in pieces)
        tail_budget = cap - cap // 2
        # The head may end up to three bytes early, to split no character.
        assert any(
            stored[:head] == everything[:head]
            and stored[head:] == everything[len(everything) - len(stored) + head :]
            and len(stored) - head >= min(len(everything) - head, tail_budget)
            for head in range(max(0, min(len(everything), cap // 2) - 3), cap // 2 + 1)
        )
        assert log.dropped_bytes == len(everything) - len(stored)
        assert sum(log.line_counts.values()) == log.next_line - 1
