"""
The JSON API: run logs and scheduler health; see ``batchrun.urls``.

Every endpoint answers GET and HEAD with a JSON object, errors included;
:mod:`batchrun.api_access` applies the access rules.  An unknown run is a
404.  The health endpoint needs no user when
``BATCHRUN_HEALTH_REQUIRES_AUTH`` is False.
"""

import datetime

from django.db.models import Count, Q
from django.http import HttpRequest, HttpResponse, JsonResponse, StreamingHttpResponse
from django.utils import timezone

from . import api_params, conf
from .api_access import api_view, error_response
from .cursors import datetime_to_int, dump_cursor, int_to_datetime, load_cursor
from .exceptions import ParameterError
from .models import JobRun, SchedulerHeartbeat
from .output_pages import STREAMS, OutputPosition, read_output_page
from .run_output import iter_output_bytes
from .serializers import RUN_FIELDS, RunUrls, format_time, run_to_dict

RUN_PAGE_SIZE = 50
MAX_RUN_PAGE_SIZE = 500
OUTPUT_PAGE_SIZE = 1000
MAX_OUTPUT_PAGE_SIZE = 10_000
# How much later than its start a run's creation time may be, should a clock
# step back between the two; see run_list.
STARTED_AFTER_CREATED_SLACK = datetime.timedelta(days=1)
# Health lists the schedulers seen most recently, not every one that ever ran.
MAX_SCHEDULERS_SHOWN = 50

RUN_LIST_PARAMETERS = [
    "job",
    "scheduled_job",
    "status",
    "exit_code",
    "started_after",
    "started_before",
    "limit",
    "cursor",
]
RUN_DETAIL_PARAMETERS = ["stream", "after", "limit"]


def _page_url(request: HttpRequest, parameter: str, token: str) -> str:
    query = request.GET.copy()
    query[parameter] = token
    return request.build_absolute_uri(f"{request.path}?{query.urlencode()}")


@api_view
def run_list(request: HttpRequest) -> JsonResponse:
    """
    Return a page of runs, newest first, and the URL of the next page.

    Runs are ordered by ``created_at`` (when the run was recorded, never
    NULL) and id, both descending; the cursor holds the last run's pair, so
    every page is one range scan of the ``(created_at, id)`` index.
    """
    query = request.GET
    api_params.check_known(query, RUN_LIST_PARAMETERS)
    runs = JobRun.objects.select_related("job").only(*RUN_FIELDS)
    job = api_params.get_id(query, "job")
    if job is not None:
        runs = runs.filter(job_id=job)
    scheduled_job = api_params.get_id(query, "scheduled_job")
    if scheduled_job is not None:
        runs = runs.filter(scheduled_job_id=scheduled_job)
    statuses = api_params.get_choices(query, "status", JobRun.Status.values)
    if statuses:
        runs = runs.filter(status__in=statuses)
    exit_code = api_params.get_int32(query, "exit_code")
    if exit_code is not None:
        runs = runs.filter(exit_code=exit_code)
    started_after = api_params.get_datetime(query, "started_after")
    if started_after is not None:
        runs = runs.filter(started_at__gte=started_after)
    started_before = api_params.get_datetime(query, "started_before")
    if started_before is not None:
        # A run is recorded before it starts, on the host that starts it,
        # so this bound on the ordering column drops no run; it lets the
        # database skip the newer runs instead of reading them all.
        runs = runs.filter(
            started_at__lt=started_before,
            created_at__lt=started_before + STARTED_AFTER_CREATED_SLACK,
        )
    limit = api_params.get_limit(query, RUN_PAGE_SIZE, MAX_RUN_PAGE_SIZE)
    cursor = api_params.get_single(query, "cursor")
    if cursor is not None:
        created_at, run_id = load_cursor("runs", cursor, "cursor", 2)
        last_created = int_to_datetime(created_at)
        # The redundant "<=" gives every database an index range to scan.
        runs = runs.filter(created_at__lte=last_created).filter(
            Q(created_at__lt=last_created) | Q(created_at=last_created, id__lt=run_id)
        )

    page = list(runs.order_by("-created_at", "-id")[: limit + 1])
    next_url = None
    if len(page) > limit:
        page = page[:limit]
        token = dump_cursor("runs", [datetime_to_int(page[-1].created_at), page[-1].pk])
        next_url = _page_url(request, "cursor", token)
    now, urls = timezone.now(), RunUrls(request)
    results = [run_to_dict(run, urls, now) for run in page]
    return JsonResponse({"results": results, "next": next_url})


def _get_run(pk: int, fields: list[str]) -> JobRun | None:
    return JobRun.objects.select_related("job").only(*fields).filter(pk=pk).first()


def _run_not_found(pk: int) -> JsonResponse:
    return error_response(404, f"Run {pk} does not exist.")


def _get_stream(query) -> int | None:
    name = api_params.get_single(query, "stream")
    if name is None:
        return None
    if name not in STREAMS:
        msg = f"Unknown stream {name!r}; use stdout or stderr."
        raise ParameterError("stream", msg)
    return STREAMS[name]


@api_view
def run_detail(request: HttpRequest, run_id: str) -> JsonResponse:
    """
    Return a run and a page of its output lines, and the URL to read on.

    ``next`` is null only when the run has finished and the page reached
    the end of its output; while the run is running, ``next`` always
    points after the last line returned, so a client polls it for new
    lines.  The run is read before its output: once a run is seen
    finished, its executor has stored all its output.
    """
    pk = api_params.parse_id(run_id, "id")
    query = request.GET
    api_params.check_known(query, RUN_DETAIL_PARAMETERS)
    stream = _get_stream(query)
    limit = api_params.get_limit(query, OUTPUT_PAGE_SIZE, MAX_OUTPUT_PAGE_SIZE)
    after = api_params.get_single(query, "after")
    position = OutputPosition()
    if after is not None:
        owner, stream_code, *rest = load_cursor("output", after, "after", 5)
        if owner != pk or stream_code != (stream or 0):
            msg = (
                "This after cursor belongs to another run or another stream "
                "filter; keep the stream parameter of the request that "
                "returned it."
            )
            raise ParameterError("after", msg)
        position = OutputPosition.from_list(rest)
    run = _get_run(pk, RUN_FIELDS)
    if run is None:
        return _run_not_found(pk)

    page = read_output_page(run, position, limit, stream)
    data = run_to_dict(run, RunUrls(request))
    data["entries"] = page.entries
    data["next"] = None
    if not (page.at_end and run.status != JobRun.Status.RUNNING):
        values = [run.pk, stream or 0, *page.next_position.as_list()]
        data["next"] = _page_url(request, "after", dump_cursor("output", values))
    return JsonResponse(data)


@api_view
def run_text(request: HttpRequest, run_id: str) -> HttpResponse:
    """Stream a run's output as the exact bytes it printed, for download."""
    pk = api_params.parse_id(run_id, "id")
    api_params.check_known(request.GET, ["stream"])
    stream = _get_stream(request.GET)
    run = _get_run(pk, ["id", "job__id"])
    if run is None:
        return _run_not_found(pk)
    response = StreamingHttpResponse(
        iter_output_bytes(run, None if stream is None else [stream]),
        content_type="text/plain; charset=utf-8",
    )
    suffix = "" if stream is None else f"-{request.GET['stream'].strip()}"
    response["Content-Disposition"] = (
        f'attachment; filename="batchrun-run-{run.pk}{suffix}.txt"'
    )
    response["X-Content-Type-Options"] = "nosniff"
    return response


@api_view(requires_auth=conf.health_requires_auth)
def health(request: HttpRequest) -> JsonResponse:
    """
    Report whether a scheduler is alive, for a load balancer or a probe.

    200 when at least one scheduler's heartbeat is younger than three poll
    intervals, else 503.  A scheduler beats every heartbeat interval, so
    when that is the longer one, three heartbeat intervals count instead.
    The body holds no output and no job arguments.  Query parameters are
    ignored, so a probe's cache buster does no harm.
    """
    now = timezone.now()
    stale_after = 3 * max(conf.poll_interval(), conf.heartbeat_interval())
    schedulers = []
    for beat in SchedulerHeartbeat.objects.order_by("-last_seen_at", "-id")[
        :MAX_SCHEDULERS_SHOWN
    ]:
        age = (now - beat.last_seen_at).total_seconds()
        schedulers.append(
            {
                "host": beat.host,
                "pid": beat.pid,
                "started_at": format_time(beat.started_at),
                "last_seen_at": format_time(beat.last_seen_at),
                "age": round(age, 3),
                "alive": age <= stale_after,
            }
        )
    healthy = any(scheduler["alive"] for scheduler in schedulers)

    since = now - datetime.timedelta(days=1)
    status = JobRun.Status
    counts = JobRun.objects.filter(
        Q(status=status.RUNNING)
        | Q(status=status.LOST, created_at__gte=since)
        | Q(status=status.LOST, stopped_at__gte=since)
        | Q(status=status.SKIPPED, created_at__gte=since)
    ).aggregate(
        running=Count("id", filter=Q(status=status.RUNNING)),
        lost=Count("id", filter=Q(status=status.LOST)),
        skipped=Count("id", filter=Q(status=status.SKIPPED)),
    )
    data = {
        "healthy": healthy,
        "checked_at": format_time(now),
        "stale_after": stale_after,
        "schedulers": schedulers,
        "running_runs": counts["running"],
        "lost_runs_last_day": counts["lost"],
        "skipped_runs_last_day": counts["skipped"],
    }
    if not healthy:
        data["error"] = (
            f"No scheduler has sent a heartbeat in the last {stale_after:g} "
            "seconds; start batchrun_scheduler or check its log."
        )
    return JsonResponse(data, status=200 if healthy else 503)
