"""
Formatting for the admin: status badges, durations, command lines and the
preview of a schedule's next events.
"""

import datetime
import itertools
import shlex

from django import forms
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.utils.translation import gettext as _

from .exceptions import CommandLineError
from .models import Job, JobRun
from .scheduling import EventKind, RecurrenceRule

PREVIEW_EVENT_COUNT = 10

# The style sheet of every batchrun admin page.
ADMIN_MEDIA = forms.Media(css={"all": ["batchrun/admin.css"]})


def run_link(run: JobRun) -> SafeString:
    """Return a link to a run's admin page, e.g. ``#12``."""
    url = reverse("admin:batchrun_jobrun_change", args=[run.pk])
    return format_html('<a href="{}">#{}</a>', url, run.pk)


def status_badge(run: JobRun) -> SafeString:
    """Return the run's status as a coloured badge; its message as a tooltip."""
    return format_html(
        '<span class="batchrun-badge batchrun-status-{}" title="{}">{}</span>',
        run.status,
        run.message,
        run.get_status_display(),
    )


def format_duration(duration: datetime.timedelta | None) -> str:
    """Return a duration for people: ``0.4 s``, ``12 s``, ``3 min 05 s``."""
    if duration is None:
        return "—"
    seconds = duration.total_seconds()
    if seconds < 10:
        return f"{seconds:.1f} s"
    seconds = round(seconds)
    if seconds < 60:
        return f"{seconds} s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {seconds:02d} s"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {minutes:02d} min"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours:02d} h"


def format_time(moment: datetime.datetime | None, seconds: bool = True) -> str:
    """Return an instant in the current timezone, e.g. ``2030-01-15 14:00:05``."""
    if moment is None:
        return "—"
    pattern = "%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M"
    return timezone.localtime(moment).strftime(pattern)


def format_command_line(argv: list[str] | None) -> str:
    """Return an argument vector as a shell would need it typed."""
    if not argv:
        return "—"
    return shlex.join(str(argument) for argument in argv)


def job_command_line(job: Job) -> str:
    """Return the job's command line, or why it cannot be built."""
    if job.command_id is None:
        return "—"
    try:
        return format_command_line(job.get_command_line())
    except CommandLineError as error:
        return _("Cannot be built: %(error)s") % {"error": error}


def next_event(schedule, now: datetime.datetime | None = None):
    """Return the next time a schedule fires, or None if it never does."""
    now = now or timezone.now()
    start = max(now, schedule.active_since or now)
    try:
        return next(iter(schedule.get_next_events(start)), None)
    except ValueError:
        return None


def render_preview(schedule, now: datetime.datetime | None = None) -> str:
    """Render the next events of a schedule (saved or not) as HTML."""
    return render_to_string(
        "admin/batchrun/scheduledjob/preview.html",
        get_preview_context(schedule, now),
    )


def get_preview_context(schedule, now: datetime.datetime | None = None) -> dict:
    """Return the template context of a schedule's preview."""
    now = now or timezone.now()
    try:
        rule = schedule.recurrence_rule
        events = [
            describe_event(rule, event)
            for event in itertools.islice(
                rule.get_next_events(now), PREVIEW_EVENT_COUNT
            )
        ]
        description = rule.describe()
    except ValueError as error:
        return {"error": str(error)}
    return {
        "description": description,
        "events": events,
        "zone": rule.timezone,
        "has_notes": any(event["note"] for event in events),
    }


def describe_event(rule: RecurrenceRule, event: datetime.datetime) -> dict:
    """Return one event as the preview shows it: local, UTC, DST note."""
    kind = rule.classify_event(event)
    local = event.astimezone(rule.tzinfo)
    note = ""
    if kind == EventKind.MOVED:
        # The wall-clock time it was due at, by the offset before the jump.
        before = (event - datetime.timedelta(days=1)).astimezone(rule.tzinfo)
        wall = event.astimezone(datetime.UTC) + before.utcoffset()
        note = _("%(time)s does not exist that day: clocks go forward") % {
            "time": wall.strftime("%H:%M")
        }
    elif kind == EventKind.REPEATED:
        note = _("%(time)s occurs twice that day: clocks go back") % {
            "time": local.strftime("%H:%M")
        }
    return {
        "local": local.strftime("%Y-%m-%d %H:%M"),
        "weekday": local.strftime("%a"),
        "offset": _format_offset(local.utcoffset()),
        "utc": event.astimezone(datetime.UTC).strftime("%Y-%m-%d %H:%M"),
        "kind": str(kind),
        "note": note,
    }


def _format_offset(offset: datetime.timedelta | None) -> str:
    minutes = round((offset or datetime.timedelta(0)).total_seconds() / 60)
    sign = "-" if minutes < 0 else "+"
    hours, minutes = divmod(abs(minutes), 60)
    return f"{sign}{hours:02d}:{minutes:02d}"
