"""Execute one claimed run in the foreground: ``batchrun_execute_job_run ID``."""

from django.core.management.base import BaseCommand, CommandError

from batchrun.job_running import execute_job_run
from batchrun.models import JobRun


class Command(BaseCommand):
    help = (
        "Run the job of a claimed run (status running, not started yet) in "
        "the foreground, storing its output and end in the database. Exits "
        "with status 0 however the job ends; the run records that."
    )
    # The scheduler that claimed the run has run the checks already.
    requires_system_checks = []

    def add_arguments(self, parser):
        parser.add_argument("run_id", type=int, help="The id of the run.")

    def handle(self, *args, run_id: int, **options) -> None:
        run = JobRun.objects.select_related("job__command").filter(pk=run_id).first()
        if run is None:
            msg = f"Run {run_id} does not exist."
            raise CommandError(msg)
        if run.status != JobRun.Status.RUNNING:
            msg = (
                f"Run {run_id} has status {run.status}; only a running run that "
                "has not started yet can be executed."
            )
            raise CommandError(msg)
        if run.started_at is not None:
            msg = (
                f"Run {run_id} started already, at {run.started_at.isoformat()}; "
                "a run is executed once."
            )
            raise CommandError(msg)
        run = execute_job_run(run)
        if options["verbosity"] >= 1:
            self.stdout.write(f"Run {run.pk} ended: {run.status}.")
