"""
Cut the bytes a job prints into numbered chunks under a per-run output cap.

This module knows nothing of the database; :mod:`batchrun.log_storage`
writes what it produces.  Two steps turn pipe reads into ``LogChunk`` rows.

:class:`LineChunker` gathers the reads of each stream into chunk contents:
consecutive whole lines of one stream, at most ``PIECE_BYTES`` long, whose
reads came within ``CHUNK_WINDOW`` seconds of the chunk's first.  A chunk's
time is when its first line had been read in full; times never decrease
from one chunk to the next.  An unfinished line is held back until its
newline arrives.  It is stored unfinished, as a *piece*, when it has waited
``PARTIAL_LINE_WAIT`` seconds (a progress bar, a prompt) or has grown to
``PIECE_BYTES`` (a very long line).  A piece's text does not end in a
newline; its line goes on in the next chunk of the same stream.  Cuts
split no UTF-8 character that is whole, so each piece stays readable.

:class:`OutputLog` numbers the chunks (``seq`` from 0; lines from 1 over
both streams, a piece counting as a line) and applies the output cap: it
keeps exactly the first half of ``max_bytes`` and at least the last half,
in whole chunks (the head is up to three bytes shorter where its end would
split a character).  Output between them is dropped and counted: once the tail
holds more than its half, its oldest chunks are deleted again, so that
neither memory nor the database grows with the output.  The dropped part
leaves a gap in the line numbers, which :meth:`OutputLog.describe_cut`
puts in words.
"""

import collections
import dataclasses

STDOUT = 1
STDERR = 2

PIECE_BYTES = 1024 * 1024
CHUNK_WINDOW = 0.1
PARTIAL_LINE_WAIT = 0.5


@dataclasses.dataclass
class ChunkData:
    """Output of one stream, read from ``time`` (seconds since the epoch) on."""

    stream: int
    time: float
    data: bytes


@dataclasses.dataclass
class StoredChunk:
    """A chunk to insert: its number, its first line's number and its bytes."""

    seq: int
    stream: int
    time: float
    first_line: int
    line_count: int
    data: bytes


def count_lines(data: bytes) -> int:
    """Return the number of lines in data, counting an unfinished last one."""
    return data.count(b"\n") + (not data.endswith(b"\n"))


def utf8_cut(data: bytes | bytearray, limit: int, floor: int = 0) -> int:
    """
    Return a cut position near ``limit`` that splits no UTF-8 character.

    The position is ``limit``, or up to three bytes before it (but above
    ``floor``) where a character starts that would reach past ``limit``.
    """
    if limit >= len(data) or limit <= floor:
        return limit
    cut = limit
    while cut > max(floor, limit - 3) and 0x80 <= data[cut] <= 0xBF:
        cut -= 1
    byte = data[cut]
    if cut < limit and cut > floor and 0xC2 <= byte <= 0xF4:
        needed = 2 if byte < 0xE0 else 3 if byte < 0xF0 else 4
        if cut + needed > limit:
            return cut
    return limit


def complete_length(data: bytes | bytearray) -> int:
    """Return the length of data without an unfinished final UTF-8 character."""
    size = len(data)
    for back in range(1, min(4, size) + 1):
        byte = data[size - back]
        if 0x80 <= byte <= 0xBF:
            continue
        if 0xC2 <= byte <= 0xF4:
            needed = 2 if byte < 0xE0 else 3 if byte < 0xF0 else 4
            return size - back if needed > back else size
        return size
    return size


class LineChunker:
    """Gather pipe reads into chunks of whole lines, one stream per chunk."""

    def __init__(
        self,
        piece_bytes: int = PIECE_BYTES,
        window: float = CHUNK_WINDOW,
        partial_wait: float = PARTIAL_LINE_WAIT,
    ) -> None:
        self.piece_bytes = piece_bytes
        self.window = window
        self.partial_wait = partial_wait
        self._partial = {STDOUT: bytearray(), STDERR: bytearray()}
        # When each stream's unfinished line began, and its last read.
        self._partial_time: dict[int, float] = {}
        self._last_read: dict[int, float] = {}
        self._last_time = 0.0
        self._open_stream = 0
        self._open_time = 0.0
        self._open_size = 0
        self._open_parts: list[bytes] = []
        self._closed: list[ChunkData] = []

    def feed(self, stream: int, time: float, data: bytes) -> None:
        """Add bytes read from a stream at a time."""
        partial = self._partial[stream]
        end = data.rfind(b"\n") + 1
        if end == 0:
            if not partial:
                self._partial_time[stream] = time
            partial += data
            self._last_read[stream] = time
            self._cut_long_partial(stream)
            return
        if partial:
            complete = bytes(partial) + data[:end]
            partial.clear()
            del self._partial_time[stream]
            self._add(stream, time, complete)
        else:
            self._add(stream, time, data if end == len(data) else data[:end])
        if end < len(data):
            partial += memoryview(data)[end:]
            self._partial_time[stream] = time
            self._last_read[stream] = time
            self._cut_long_partial(stream)

    def flush_due(self, now: float) -> None:
        """Store as pieces the unfinished lines that waited long enough."""
        for stream, since in list(self._partial_time.items()):
            if now - since >= self.partial_wait:
                self._flush_partial(stream, now, complete_length(self._partial[stream]))

    def flush_all(self) -> None:
        """Store every unfinished line as it is: the output has ended."""
        for stream in list(self._partial_time):
            self._flush_partial(stream, 0.0, len(self._partial[stream]))

    def next_flush_time(self) -> float | None:
        """Return when :meth:`flush_due` has a piece to store, or None."""
        if not self._partial_time:
            return None
        return min(self._partial_time.values()) + self.partial_wait

    def take_chunks(self) -> list[ChunkData]:
        """Return the chunks gathered so far, closing the last one."""
        self._close_open()
        chunks, self._closed = self._closed, []
        return chunks

    def _flush_partial(self, stream: int, now: float, length: int) -> None:
        partial = self._partial[stream]
        if length:
            piece = bytes(partial[:length])
            del partial[:length]
            self._add(stream, self._last_read[stream], piece)
        if partial:
            self._partial_time[stream] = now
        else:
            del self._partial_time[stream]

    def _cut_long_partial(self, stream: int) -> None:
        partial = self._partial[stream]
        while len(partial) >= self.piece_bytes:
            cut = utf8_cut(partial, self.piece_bytes)
            piece = bytes(partial[:cut])
            del partial[:cut]
            self._add(stream, self._last_read[stream], piece)
            self._partial_time[stream] = self._last_read[stream]
        if not partial:
            del self._partial_time[stream]

    def _add(self, stream: int, time: float, data: bytes) -> None:
        # Times never decrease along the chunks, whatever the streams do.
        time = max(time, self._last_time)
        self._last_time = time
        position, size = 0, len(data)
        while position < size:
            if (
                stream != self._open_stream
                or time - self._open_time > self.window
                or self._open_size >= self.piece_bytes
            ):
                self._close_open()
                self._open_stream = stream
                self._open_time = time
            end = position + self.piece_bytes - self._open_size
            if end >= size:
                end = size
            else:
                newline = data.rfind(b"\n", position, end)
                if newline >= 0:
                    end = newline + 1
                elif self._open_size:
                    self._close_open()
                    continue
                else:
                    end = utf8_cut(data, end, position)
            self._open_parts.append(
                data if end - position == size else data[position:end]
            )
            self._open_size += end - position
            position = end

    def _close_open(self) -> None:
        if self._open_parts:
            data = b"".join(self._open_parts)
            self._closed.append(ChunkData(self._open_stream, self._open_time, data))
        self._open_parts = []
        self._open_size = 0
        self._open_stream = 0


@dataclasses.dataclass
class _TailBlock:
    first_seq: int
    last_seq: int
    size: int
    first_line: int


class OutputLog:
    """Number a run's chunks and keep its head and tail within ``max_bytes``."""

    def __init__(self, max_bytes: int) -> None:
        self.head_budget = max_bytes // 2
        self.tail_budget = max(max_bytes - self.head_budget, 1)
        self.next_seq = 0
        self.next_line = 1
        self.line_counts = {STDOUT: 0, STDERR: 0}
        self.output_bytes = 0
        self.dropped_bytes = 0
        self.unsaved: list[StoredChunk] = []
        self.unsaved_deletions: list[tuple[int, int]] = []
        self.unsaved_bytes = 0
        self._first_unsaved_seq = 0
        self._head_used = 0
        self._head_end_line: int | None = None
        self._block_target = max(self.tail_budget // 64, 1)
        self._blocks: collections.deque[_TailBlock] = collections.deque()
        self._tail_bytes = 0

    def add(self, chunk: ChunkData) -> None:
        """Number a chunk, then store, cut or drop it under the cap."""
        data = chunk.data
        self.output_bytes += len(data)
        room = self.head_budget - self._head_used
        if room > 0:
            if len(data) <= room:
                self._head_used += len(data)
                self._store(chunk.stream, chunk.time, data)
                return
            cut = utf8_cut(data, room)
            self._store(chunk.stream, chunk.time, data[:cut])
            self._head_used = self.head_budget
            data = data[cut:]
        if self._head_end_line is None:
            self._head_end_line = self.next_line
        if len(data) > self.tail_budget:
            cut = utf8_cut(data, len(data) - self.tail_budget)
            self._drop(chunk.stream, data[:cut])
            data = data[cut:]
        first_line = self.next_line
        seq = self._store(chunk.stream, chunk.time, data)
        self._add_to_tail(seq, len(data), first_line)

    def take_saved(self) -> None:
        """Forget the unsaved chunks and deletions: they are in the database."""
        self.unsaved = []
        self.unsaved_deletions = []
        self.unsaved_bytes = 0
        self._first_unsaved_seq = self.next_seq

    @property
    def dropped_lines(self) -> tuple[int, int] | None:
        """Return the first and last line numbers dropped by the cap, or None."""
        if self._head_end_line is None or not self.dropped_bytes:
            return None
        first_kept = self._blocks[0].first_line if self._blocks else self.next_line
        return self._head_end_line, first_kept - 1

    def describe_cut(self) -> str:
        """Return a sentence on what the cap dropped, or an empty string."""
        lines = self.dropped_lines
        if lines is None:
            return ""
        return (
            f"The output exceeded BATCHRUN_MAX_OUTPUT_BYTES "
            f"({self.head_budget + self.tail_budget} bytes): "
            f"{self.dropped_bytes} bytes in the middle (lines {lines[0]} to "
            f"{lines[1]}) were dropped; the first and last lines are kept."
        )

    def _store(self, stream: int, time: float, data: bytes) -> int:
        seq = self.next_seq
        line_count = count_lines(data)
        self.unsaved.append(
            StoredChunk(seq, stream, time, self.next_line, line_count, data)
        )
        self.unsaved_bytes += len(data)
        self.next_seq += 1
        self.next_line += line_count
        self.line_counts[stream] += line_count
        return seq

    def _drop(self, stream: int, data: bytes) -> None:
        line_count = count_lines(data)
        self.next_line += line_count
        self.line_counts[stream] += line_count
        self.dropped_bytes += len(data)

    def _add_to_tail(self, seq: int, size: int, first_line: int) -> None:
        last = self._blocks[-1] if self._blocks else None
        if last is not None and last.size < self._block_target:
            last.last_seq = seq
            last.size += size
        else:
            self._blocks.append(_TailBlock(seq, seq, size, first_line))
        self._tail_bytes += size
        while self._tail_bytes - self._blocks[0].size >= self.tail_budget:
            block = self._blocks.popleft()
            self._tail_bytes -= block.size
            self.dropped_bytes += block.size
            self._forget(block.first_seq, block.last_seq)

    def _forget(self, first_seq: int, last_seq: int) -> None:
        if last_seq >= self._first_unsaved_seq:
            self.unsaved = [
                c for c in self.unsaved if not first_seq <= c.seq <= last_seq
            ]
            self.unsaved_bytes = sum(len(c.data) for c in self.unsaved)
        if first_seq < self._first_unsaved_seq:
            last_saved = min(last_seq, self._first_unsaved_seq - 1)
            self.unsaved_deletions.append((first_seq, last_saved))
