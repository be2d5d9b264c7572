"""
Read a run's output a page of lines at a time, for clients that follow it.

Output is stored in chunks (see :class:`batchrun.models.LogChunk`).  A page
is the run's lines from a position onwards, one entry per line, in the order
the lines started to be read.  A position is a chunk and a line within it,
plus, per stream, whether a line was left open there: bytes of a stream are
one sequence, so when a chunk ends without a newline, the next chunk of the
same stream carries on that line, even if the other stream printed between.

Within a page, the pieces of a line are joined into one entry.  A line that
is still open at the end of a page (its newline has not been read yet, or
lies beyond the page) is returned with ``complete`` false; the next page
then starts with the rest of that line, marked ``continues``.  A client
appends such an entry's text to the previous entry of the same stream.  So
every byte is returned exactly once, and a client that polls a running job
sees a half-written line at once, then its end.

A page costs two small queries whatever its depth: the sizes of the next
chunks, read from the ``(run, seq)`` index, and the text of just the chunks
the page needs.
"""

import dataclasses

from .models import JobRun, LogChunk
from .output_text import decode_output, encode_output
from .serializers import format_time

STREAMS = {"stdout": LogChunk.Stream.STDOUT, "stderr": LogChunk.Stream.STDERR}
_STREAM_NAMES = {value: name for name, value in STREAMS.items()}
_STREAM_BITS = {LogChunk.Stream.STDOUT: 1, LogChunk.Stream.STDERR: 2}

# Marks a stream whose line was left open before the page started.
_CARRIED = object()


@dataclasses.dataclass(frozen=True)
class OutputPosition:
    """Where a page starts: a chunk, a line in it, and the open streams."""

    seq: int | None = None
    line: int = 0
    open_streams: int = 0

    def as_list(self) -> list[int]:
        return [-1 if self.seq is None else self.seq, self.line, self.open_streams]

    @classmethod
    def from_list(cls, values: list[int]) -> "OutputPosition":
        seq, line, open_streams = values
        return cls(None if seq < 0 else seq, max(line, 0), open_streams & 3)


@dataclasses.dataclass
class OutputPage:
    entries: list[dict]
    next_position: OutputPosition
    at_end: bool


class _Entry:
    __slots__ = ("complete", "continues", "line", "pieces", "stream", "time")

    def __init__(self, stream: int, line: int, time: str, continues: bool) -> None:
        self.stream = stream
        self.line = line
        self.time = time
        self.continues = continues
        self.pieces: list[tuple[str, bool]] = []
        self.complete = False

    def as_dict(self) -> dict:
        if len(self.pieces) == 1:
            text, escaped = self.pieces[0]
        elif not any(escaped for _text, escaped in self.pieces):
            text, escaped = "".join(text for text, _escaped in self.pieces), False
        else:
            # Re-encode the joined bytes: a character split between two
            # chunks is whole again, and one line has one representation.
            data = b"".join(decode_output(text, esc) for text, esc in self.pieces)
            text, escaped = encode_output(data)
        return {
            "stream": _STREAM_NAMES[self.stream],
            "line": self.line,
            "time": self.time,
            "text": text,
            "escaped": escaped,
            "complete": self.complete,
            "continues": self.continues,
        }


def read_output_page(
    run: JobRun, position: OutputPosition, limit: int, stream: int | None = None
) -> OutputPage:
    """Return up to ``limit`` lines of a run's output from a position."""
    chunks = LogChunk.objects.filter(run=run)
    if stream is not None:
        chunks = chunks.filter(stream=stream)
    if position.seq is not None:
        chunks = chunks.filter(seq__gte=position.seq)
    sizes = list(chunks.order_by("seq").values_list("seq", "line_count")[: limit + 1])
    if not sizes:
        return OutputPage([], position, at_end=True)

    window = _choose_window(sizes, position, limit)
    # Both bounds and a limit make every database walk the (run, seq) index.
    # Without the limit, PostgreSQL reckons that a range such as seq <= 19
    # matches nearly all of a run's chunks (most runs have a chunk 0).
    rows = (
        chunks.filter(seq__gte=sizes[0][0], seq__lte=sizes[window - 1][0])
        .order_by("seq")
        .values_list("seq", "stream", "first_line", "time", "escaped", "text")[:window]
    )
    entries, next_position = _split_lines(rows, position, limit)
    at_end = (
        next_position.seq is not None
        and next_position.seq > sizes[-1][0]
        and len(sizes) <= limit
    )
    entries = [
        entry.as_dict() if isinstance(entry, _Entry) else entry for entry in entries
    ]
    return OutputPage(entries, next_position, at_end)


def _choose_window(
    sizes: list[tuple[int, int]], position: OutputPosition, limit: int
) -> int:
    """Return how many of the next chunks hold ``limit`` lines."""
    wanted = limit
    for count, (seq, line_count) in enumerate(sizes, start=1):
        if seq == position.seq:
            line_count -= position.line
        wanted -= max(line_count, 1)
        if wanted <= 0:
            return count
    return len(sizes)


def _split_lines(
    rows, position: OutputPosition, limit: int
) -> tuple[list[dict | _Entry], OutputPosition]:
    """
    Join the rows' pieces into at most ``limit`` entries.

    Whole lines become dicts at once; an ``_Entry`` gathers a line's pieces
    while its stream has it open.
    """
    open_lines: dict[int, object] = {
        stream: _CARRIED
        for stream, bit in _STREAM_BITS.items()
        if position.open_streams & bit
    }
    entries: list[dict | _Entry] = []
    seq = None
    for seq, stream, first_line, time, escaped, text in rows:
        pieces = text.split("\n")
        tail = pieces.pop()  # The unfinished last piece, or "".
        index = position.line if seq == position.seq else 0
        shown_time = format_time(time)
        state = open_lines.get(stream)
        if isinstance(state, _Entry):
            # The chunk starts with the rest of a line begun on this page.
            if index < len(pieces):
                state.pieces.append((pieces[index], escaped))
                state.complete = True
                del open_lines[stream]
                index += 1
            elif tail:
                state.pieces.append((tail, escaped))
                continue
        stop = min(len(pieces), index + limit - len(entries))
        if index < stop:
            continues = open_lines.pop(stream, None) is _CARRIED
            name = _STREAM_NAMES[stream]
            entries.extend(
                {
                    "stream": name,
                    "line": first_line + number,
                    "time": shown_time,
                    "text": pieces[number],
                    "escaped": escaped,
                    "complete": True,
                    "continues": continues and number == index,
                }
                for number in range(index, stop)
            )
            index = stop
        if index < len(pieces):
            # The page filled up before the chunk's end.
            return entries, _position_at(seq, index, open_lines)
        if index == len(pieces) and tail:
            if len(entries) == limit:
                return entries, _position_at(seq, index, open_lines)
            entry = _Entry(stream, first_line + index, shown_time, stream in open_lines)
            entry.pieces.append((tail, escaped))
            entries.append(entry)
            open_lines[stream] = entry
    if seq is None:
        # The chunks were deleted between the two queries.
        return entries, position
    return entries, _position_at(seq + 1, 0, open_lines)


def _position_at(seq: int, line: int, open_lines: dict) -> OutputPosition:
    open_streams = 0
    for stream in open_lines:
        open_streams |= _STREAM_BITS[stream]
    return OutputPosition(seq, line, open_streams)
