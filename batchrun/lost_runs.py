"""
Mark as lost the runs whose executor stopped beating.

An executor touches its run's ``heartbeat_at`` every
``BATCHRUN_HEARTBEAT_INTERVAL`` seconds.  A running run whose heartbeat is
older than ``BATCHRUN_LOST_AFTER`` seconds has lost its executor (killed,
its host gone): :func:`mark_lost_runs`, called by every scheduler at every
tick, records it as ``lost``, with the reason in ``message`` and its last
heartbeat as ``stopped_at``.  Its output so far is kept and it is never
run again.

Each run is marked with an UPDATE that also requires the heartbeat it was
seen with, so of several schedulers only one marks it, and a heartbeat that
arrives in between keeps the run running.  An executor that comes back
after all (its database was unreachable) records the real end over
``lost``.
"""

import datetime
import logging

from django.db.models import Q
from django.utils import timezone

from . import conf
from .models import JobRun

logger = logging.getLogger(__name__)


def mark_lost_runs(now: datetime.datetime | None = None) -> int:
    """Mark running runs without a recent heartbeat as lost; return how many."""
    now = now or timezone.now()
    lost_after = conf.lost_after()
    threshold = now - datetime.timedelta(seconds=lost_after)
    candidates = (
        JobRun.objects.running()
        .filter(
            Q(heartbeat_at__lt=threshold)
            | Q(heartbeat_at__isnull=True, created_at__lt=threshold)
        )
        .values_list("pk", "heartbeat_at", "created_at")
    )
    marked = 0
    for pk, heartbeat_at, created_at in candidates:
        last_sign = heartbeat_at or created_at
        message = (
            f"The executor stopped sending heartbeats: none since "
            f"{last_sign.isoformat()}, more than {lost_after:g} seconds before "
            f"{now.isoformat()}. The job may have gone on running; its output "
            "so far is kept, and it is not run again."
        )
        updated = JobRun.objects.filter(
            pk=pk, status=JobRun.Status.RUNNING, heartbeat_at=heartbeat_at
        ).update(status=JobRun.Status.LOST, stopped_at=last_sign, message=message)
        if updated:
            marked += 1
            logger.warning(
                "Run lost: run=%s last_heartbeat=%s", pk, last_sign.isoformat()
            )
    return marked
