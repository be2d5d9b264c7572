"""
Write an executor's output chunks, counters and heartbeat to the database.

Each write is one transaction: the run's counters and heartbeat, the new
chunks and the deletion of tail chunks the output cap dropped.  So the
counters always agree with the stored chunks, and a write that failed can
be repeated whole.

Statements stay far below MariaDB's default 16 MiB packet limit: a chunk
holds at most 1 MiB of output, whose stored text is at most 4 MiB (every
byte escaped), and an INSERT carries chunks only up to about 8 MiB of
text, counting the quoting a driver may add.
"""

import datetime
import functools

from django.db import connection, transaction

from .exceptions import BatchrunError
from .models import JobRun, LogChunk
from .output_chunks import StoredChunk
from .output_text import encode_output

INSERT_BYTES = 8 * 1024 * 1024
_COPY_FIELDS = ["seq", "stream", "time", "first_line", "line_count", "escaped", "text"]


class RunVanishedError(BatchrunError):
    """The run being executed no longer exists in the database."""


def save_output(
    run_id: int,
    chunks: list[StoredChunk],
    deletions: list[tuple[int, int]],
    fields: dict,
) -> bool:
    """
    Store chunks, delete dropped ones and update the run's fields at once.

    Return whether a cancel of the run has been requested.  Raise
    :class:`RunVanishedError` when the run row is gone.
    """
    with transaction.atomic():
        runs = JobRun.objects.filter(pk=run_id)
        cancel_requested = False
        if not runs.filter(cancel_requested_at__isnull=True).update(**fields):
            if not runs.update(**fields):
                msg = f"Run {run_id} no longer exists."
                raise RunVanishedError(msg)
            cancel_requested = True
        for group in _insert_groups(run_id, chunks):
            _insert(group)
        for first_seq, last_seq in deletions:
            LogChunk.objects.filter(
                run_id=run_id, seq__gte=first_seq, seq__lte=last_seq
            ).delete()
    return cancel_requested


def is_saved(run_id: int, seq: int) -> bool:
    """Return whether the chunk numbered seq of a run is stored."""
    return LogChunk.objects.filter(run_id=run_id, seq=seq).exists()


def _insert(chunks: list[LogChunk]) -> None:
    if connection.vendor != "postgresql":
        LogChunk.objects.bulk_create(chunks)
        return
    # COPY skips the quoting of every value into the statement's text, and
    # lz4 compresses long texts several times faster than the default.
    if _has_lz4():
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL default_toast_compression = lz4")
    table = connection.ops.quote_name(LogChunk._meta.db_table)
    names = ["run_id", *_COPY_FIELDS]
    columns = ", ".join(
        connection.ops.quote_name(LogChunk._meta.get_field(name).column)
        for name in names
    )
    with (
        connection.cursor() as cursor,
        cursor.cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy,
    ):
        for chunk in chunks:
            copy.write_row([getattr(chunk, name) for name in names])


@functools.cache
def _has_lz4() -> bool:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT 1 FROM pg_settings WHERE name = 'default_toast_compression' "
            "AND 'lz4' = ANY(enumvals)"
        )
        return cursor.fetchone() is not None


def _insert_groups(run_id: int, chunks: list[StoredChunk]):
    group: list[LogChunk] = []
    group_bytes = 0
    for chunk in chunks:
        text, escaped = encode_output(chunk.data)
        # Drivers may double quotes and backslashes when they inline values.
        size = 2 * (len(text.encode("utf-8")) if escaped else len(chunk.data))
        if group and group_bytes + size > INSERT_BYTES:
            yield group
            group, group_bytes = [], 0
        group.append(
            LogChunk(
                run_id=run_id,
                seq=chunk.seq,
                stream=chunk.stream,
                time=datetime.datetime.fromtimestamp(chunk.time, datetime.UTC),
                first_line=chunk.first_line,
                line_count=chunk.line_count,
                escaped=escaped,
                text=text,
            )
        )
        group_bytes += size
    if group:
        yield group
