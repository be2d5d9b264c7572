"""Build jobs, runs, output chunks and API users for the JSON API tests."""

import datetime

from django.contrib.auth.models import Permission, User

from batchrun.models import Command, Job, JobRun, LogChunk
from batchrun.output_text import encode_output

HELSINKI = datetime.timezone(datetime.timedelta(hours=3))
T0 = datetime.datetime(2024, 5, 1, 9, 0, tzinfo=datetime.UTC)


def make_job(name: str = "send-invoices", **arguments) -> Job:
    command, _created = Command.objects.get_or_create(
        name="send_invoices",
        type=Command.Type.DJANGO,
        parameter_format_string="--rent-id {rent_id}",
    )
    return Job.objects.create(
        name=name, command=command, arguments=arguments or {"rent_id": 123}
    )


def make_run(job: Job, minute: int = 0, **fields) -> JobRun:
    """Record a finished run created ``minute`` minutes after T0."""
    created = T0 + datetime.timedelta(minutes=minute)
    values = {
        "created_at": created,
        "started_at": created + datetime.timedelta(seconds=1),
        "stopped_at": created + datetime.timedelta(seconds=3, microseconds=500000),
        "status": JobRun.Status.SUCCEEDED,
        "exit_code": 0,
        "host": "worker-1",
        "pid": 4242,
        "command_line": ["send_invoices", "--rent-id", "123"],
    }
    values.update(fields)
    return JobRun.objects.create(job=job, **values)


def add_output(run: JobRun, stream: str, data: bytes, second: float = 0) -> LogChunk:
    """Store one chunk of output as the executor does, after the run's last."""
    last = run.log_chunks.order_by("-seq").first()
    seq = 0 if last is None else last.seq + 1
    first_line = 1 if last is None else last.first_line + last.line_count
    text, escaped = encode_output(data)
    line_count = text.count("\n") + (0 if text.endswith("\n") else 1)
    return LogChunk.objects.create(
        run=run,
        seq=seq,
        stream=LogChunk.Stream.STDOUT if stream == "stdout" else LogChunk.Stream.STDERR,
        time=run.created_at + datetime.timedelta(seconds=second),
        first_line=first_line,
        line_count=line_count,
        escaped=escaped,
        text=text,
    )


def make_user(username: str = "reader", *, permitted: bool = True, **fields) -> User:
    # Without a password: no slow hashing.
    user = User.objects.create_user(username, **fields)
    if permitted:
        user.user_permissions.add(
            Permission.objects.get(
                codename="view_jobrun", content_type__app_label="batchrun"
            )
        )
    return user
