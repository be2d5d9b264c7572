"""Launch a job at once as a manual run, optionally following its output."""

import sys
import time

from django.core.management.base import BaseCommand, CommandError

from batchrun.job_launching import run_job
from batchrun.lost_runs import mark_lost_runs
from batchrun.models import Job, JobRun, LogChunk
from batchrun.output_text import decode_output

POLL_INTERVAL = 0.2
LOST_CHECK_INTERVAL = 5.0
CHUNKS_PER_QUERY = 100


class Command(BaseCommand):
    help = (
        "Launch a job at once as a manual run. With --wait, write its output "
        "to stdout and stderr as it comes and exit with the job's exit code."
    )

    def add_arguments(self, parser):
        parser.add_argument("job", help="The job's id or name.")
        parser.add_argument(
            "--wait",
            action="store_true",
            help="Follow the run until it ends; exit with its exit code "
            "(128 + N for a job ended by signal N, 1 if it could not run).",
        )

    def handle(self, *args, **options):
        job = get_job(options["job"])
        run = run_job(job)
        if not options["wait"]:
            self.stdout.write(f"Launched run #{run.pk} of job {job.name}.")
            return
        try:
            run = follow_run(run, _binary(sys.stdout), _binary(sys.stderr))
        except KeyboardInterrupt:
            self.stderr.write(f"Stopped following run #{run.pk}; it goes on.")
            raise SystemExit(130) from None
        if run.status != JobRun.Status.SUCCEEDED:
            detail = f": {run.message}" if run.message else "."
            self.stderr.write(f"Run #{run.pk} ended {run.status}{detail}")
        raise SystemExit(get_exit_status(run))


def get_job(reference: str) -> Job:
    """Return the job with this id or name, or raise CommandError."""
    jobs = Job.objects.filter(name=reference)
    if reference.isdigit():
        jobs = jobs | Job.objects.filter(pk=int(reference))
    found = list(jobs.select_related("command")[:2])
    if not found:
        msg = f"No job has the id or name {reference!r}."
        raise CommandError(msg)
    if len(found) > 1:
        # A job named "12" and the job with id 12: the name wins.
        found = [job for job in found if job.name == reference]
    return found[0]


def follow_run(run: JobRun, stdout, stderr) -> JobRun:
    """Write a run's output to two binary streams until the run ends."""
    streams = {LogChunk.Stream.STDOUT: stdout, LogChunk.Stream.STDERR: stderr}
    last_seq = -1
    lost_check_at = time.monotonic() + LOST_CHECK_INTERVAL
    while True:
        run.refresh_from_db(fields=["status", "exit_code", "message"])
        finished = run.status != JobRun.Status.RUNNING
        while True:
            chunks = list(
                LogChunk.objects.filter(run=run, seq__gt=last_seq).order_by("seq")[
                    :CHUNKS_PER_QUERY
                ]
            )
            for chunk in chunks:
                stream = streams[chunk.stream]
                stream.write(decode_output(chunk.text, chunk.escaped))
                stream.flush()
                last_seq = chunk.seq
            if len(chunks) < CHUNKS_PER_QUERY:
                break
        if finished:
            return run
        if time.monotonic() >= lost_check_at:
            # No scheduler may be running to notice a vanished executor.
            mark_lost_runs()
            lost_check_at = time.monotonic() + LOST_CHECK_INTERVAL
        time.sleep(POLL_INTERVAL)


def get_exit_status(run: JobRun) -> int:
    """Return the exit status that mirrors a finished run, as a shell would."""
    if run.status == JobRun.Status.SUCCEEDED:
        return 0
    code = run.exit_code
    if code is None:
        return 1
    if code < 0:
        return 128 + min(-code, 127)
    return min(code, 255) or 1


def _binary(stream):
    return getattr(stream, "buffer", stream)
