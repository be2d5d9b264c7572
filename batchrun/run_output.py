"""
Read a run's stored output back: lines for display, bytes for download.

The admin shows output as a terminal would, line by line, with its stream
and the time it was read.  A run may print millions of lines, so the page
shows only the first and the last lines (:func:`get_output_excerpt` reads
just the chunks it needs) and links to the whole output, streamed by
:func:`iter_output_bytes` with the original bytes restored.

A display line is cleaned for reading, never for storage: carriage returns
overwrite the line from its start as in a terminal, so a progress bar shows
its last state; colour and cursor escape sequences are dropped; other
control characters show as their Unicode control pictures (NUL as ␀).
"""

import dataclasses
import datetime
import re
from collections.abc import Iterable, Iterator

from django.db.models import Sum

from .models import JobRun, LogChunk
from .output_text import decode_output

_ANSI_SEQUENCE = re.compile(
    r"\x1b\[[0-?]*[ -/]*[@-~]"  # CSI: colours, cursor movement
    r"|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)"  # OSC: window titles, links
    r"|\x1b[@-Z\\-_]"  # other two-character escapes
)
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f]")


@dataclasses.dataclass
class OutputLine:
    """One line of output as shown to a reader."""

    stream: int
    time: datetime.datetime
    text: str
    rewritten: bool = False
    cut_chars: int = 0

    @property
    def is_stderr(self) -> bool:
        return self.stream == LogChunk.Stream.STDERR

    @property
    def stream_name(self) -> str:
        return "stderr" if self.is_stderr else "stdout"


@dataclasses.dataclass
class OutputExcerpt:
    """The first and last lines of a run's output, and what lies between."""

    head: list[OutputLine]
    tail: list[OutputLine]
    omitted_lines: int

    @property
    def is_complete(self) -> bool:
        return self.omitted_lines == 0 and not self.tail

    @property
    def line_count(self) -> int:
        return len(self.head) + self.omitted_lines + len(self.tail)


def clean_line(text: str) -> tuple[str, bool]:
    """
    Return a line as a terminal would show it, and whether it was rewritten.

    ``"10%\\r55%\\r100%"`` shows as ``"100%"``: each carriage return starts
    writing over the line again from its first column.
    """
    text = _ANSI_SEQUENCE.sub("", text)
    rewritten = False
    if "\r" in text:
        segments = text.split("\r")
        shown = segments[0]
        for segment in segments[1:]:
            shown = segment + shown[len(segment) :]
        # Only visible text written over other text is a rewrite: not the
        # "\r" of a Windows line ending, nor one at the start of the line.
        rewritten = sum(1 for segment in segments if segment) > 1
        text = shown
    text = _CONTROL.sub(lambda match: chr(0x2400 + ord(match.group())), text)
    return text.replace("\x7f", "\u2421"), rewritten


def _chunk_text(chunk: LogChunk) -> str:
    if not chunk.escaped:
        return chunk.text
    # Invalid bytes show as \xNN; a backslash of the output shows as itself.
    return decode_output(chunk.text, True).decode("utf-8", "backslashreplace")


def chunks_to_lines(
    chunks: Iterable[LogChunk], max_line_chars: int = 4000
) -> list[OutputLine]:
    """
    Split consecutive chunks into display lines.

    A chunk that ends without a newline leaves its last line open; the next
    chunk of the same stream continues it, even if the other stream printed
    in between.
    """
    lines: list[OutputLine] = []
    raw: list[str] = []
    open_line: dict[int, int] = {}
    for chunk in chunks:
        pieces = _chunk_text(chunk).split("\n")
        ends_open = pieces[-1] != ""
        if not ends_open:
            pieces.pop()
        for number, piece in enumerate(pieces):
            index = open_line.pop(chunk.stream, None) if number == 0 else None
            if index is None:
                lines.append(OutputLine(chunk.stream, chunk.time, ""))
                raw.append(piece)
                index = len(lines) - 1
            else:
                raw[index] += piece
            if ends_open and number == len(pieces) - 1:
                open_line[chunk.stream] = index
    for line, text in zip(lines, raw, strict=True):
        if len(text) > max_line_chars:
            line.cut_chars = len(text) - max_line_chars
            text = text[:max_line_chars]
        line.text, line.rewritten = clean_line(text)
    return lines


def get_output_excerpt(
    run: JobRun,
    head_lines: int = 500,
    tail_lines: int = 500,
    max_line_chars: int = 4000,
    batch_size: int = 50,
) -> OutputExcerpt:
    """
    Return the first ``head_lines`` and the last ``tail_lines`` of a run.

    Chunks are read in batches from both ends, and each end stops after
    about a megabyte, so the cost does not grow with the size of the
    output.  ``omitted_lines`` counts the stored lines between the ends.
    """
    chunks = LogChunk.objects.filter(run=run)
    head_chunks, complete = _read_end(
        chunks.order_by("seq"), "seq__gt", head_lines, batch_size
    )
    if complete:
        return _split_excerpt(
            chunks_to_lines(head_chunks, max_line_chars), head_lines, tail_lines
        )

    rest = chunks.filter(seq__gt=head_chunks[-1].seq)
    tail_chunks, complete = _read_end(
        rest.order_by("-seq"), "seq__lt", tail_lines, batch_size
    )
    tail_chunks.reverse()
    if complete:
        lines = chunks_to_lines(head_chunks + tail_chunks, max_line_chars)
        return _split_excerpt(lines, head_lines, tail_lines)

    gap = rest.filter(seq__lt=tail_chunks[0].seq).aggregate(total=Sum("line_count"))[
        "total"
    ]
    head = chunks_to_lines(head_chunks, max_line_chars)
    tail = chunks_to_lines(tail_chunks, max_line_chars)
    cut_tail = max(len(tail) - tail_lines, 0)
    return OutputExcerpt(
        head=head[:head_lines],
        tail=tail[cut_tail:],
        omitted_lines=(gap or 0) + max(len(head) - head_lines, 0) + cut_tail,
    )


# Each end of an excerpt stops reading after this many characters, whatever
# its line count: a few lines may be megabytes long.
_END_CHARS = 1_000_000


def _read_end(
    ordered, after_lookup: str, wanted_lines: int, batch_size: int
) -> tuple[list[LogChunk], bool]:
    """
    Read chunks in the given order until they hold ``wanted_lines`` lines.

    Return the chunks and whether they are all there are.
    """
    found: list[LogChunk] = []
    lines = chars = 0
    while True:
        query = ordered
        if found:
            query = query.filter(**{after_lookup: found[-1].seq})
        batch = list(query[:batch_size])
        for index, chunk in enumerate(batch):
            found.append(chunk)
            lines += chunk.text.count("\n") + (not chunk.text.endswith("\n"))
            chars += len(chunk.text)
            if lines >= wanted_lines or chars >= _END_CHARS:
                last_of_all = index == len(batch) - 1 and len(batch) < batch_size
                return found, last_of_all
        if len(batch) < batch_size:
            return found, True


def _split_excerpt(
    lines: list[OutputLine], head_lines: int, tail_lines: int
) -> OutputExcerpt:
    if len(lines) <= head_lines + tail_lines:
        return OutputExcerpt(head=lines, tail=[], omitted_lines=0)
    tail = lines[len(lines) - tail_lines :]
    return OutputExcerpt(
        head=lines[:head_lines],
        tail=tail,
        omitted_lines=len(lines) - head_lines - len(tail),
    )


def iter_output_bytes(
    run: JobRun, streams: Iterable[int] | None = None, batch_size: int = 200
) -> Iterator[bytes]:
    """
    Yield a run's output as the bytes the job printed, in the order read.

    Chunks are fetched in batches by sequence number, so a download of any
    size holds one batch in memory at a time.
    """
    chunks = LogChunk.objects.filter(run=run)
    if streams is not None:
        chunks = chunks.filter(stream__in=list(streams))
    last_seq = -1
    while True:
        batch = list(
            chunks.filter(seq__gt=last_seq)
            .order_by("seq")
            .values_list("seq", "text", "escaped")[:batch_size]
        )
        for seq, text, escaped in batch:
            yield decode_output(text, escaped)
            last_seq = seq
        if len(batch) < batch_size:
            return
