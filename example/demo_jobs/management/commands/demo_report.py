"""A management command run as a demo job: count recent runs by status."""

import datetime

from django.core.management.base import BaseCommand
from django.db.models import Count
from django.utils import timezone

from batchrun.models import JobRun


class Command(BaseCommand):
    help = "Print how many runs of each status were created in the last hours."

    def add_arguments(self, parser):
        parser.add_argument("--hours", type=int, default=24)

    def handle(self, *args, hours: int, **options) -> None:
        since = timezone.now() - datetime.timedelta(hours=hours)
        counts = (
            JobRun.objects.filter(created_at__gte=since)
            .values("status")
            .annotate(count=Count("id"))
            .order_by("status")
        )
        self.stdout.write(f"Runs created in the last {hours} hours:")
        for row in counts:
            self.stdout.write(f"  {row['status']:<14} {row['count']}")
