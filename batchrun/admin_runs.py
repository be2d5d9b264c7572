"""The admin of runs and their output, and of the schedulers' heartbeats."""

import logging

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import Exists, OuterRef, Q
from django.http import HttpRequest, HttpResponseBadRequest, StreamingHttpResponse
from django.shortcuts import get_object_or_404
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.text import smart_split, unescape_string_literal
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from . import admin_display, conf
from .admin_display import ADMIN_MEDIA
from .models import JobRun, LogChunk, SchedulerHeartbeat
from .run_output import get_output_excerpt, iter_output_bytes

logger = logging.getLogger(__name__)


@admin.register(JobRun)
class JobRunAdmin(admin.ModelAdmin):
    list_display = [
        "title",
        "status_badge",
        "trigger_text",
        "started",
        "duration_text",
        "exit_code",
        "host",
    ]
    list_select_related = ["job"]
    # Counting every run of a large table on each page view is slow.
    show_full_result_count = False
    list_filter = [
        "status",
        "job",
        "trigger",
        ("started_at", admin.DateFieldListFilter),
    ]
    search_fields = ["job__name"]
    search_help_text = _("Search in job names, messages and output.")
    actions = ["cancel"]
    # The run page shows a summary, the command line and the output above
    # these; the fieldset keeps every stored field at hand.
    fieldsets = [
        (
            _("Details"),
            {
                "classes": ["collapse"],
                "fields": [
                    "job",
                    "scheduled_job",
                    "scheduled_for",
                    "trigger",
                    "status",
                    "message",
                    "host",
                    "pid",
                    "created_at",
                    "started_at",
                    "stopped_at",
                    "exit_code",
                    "heartbeat_at",
                    "cancel_requested_at",
                    "stdout_lines",
                    "stderr_lines",
                    "output_bytes",
                    "dropped_bytes",
                ],
            },
        ),
    ]
    # The run page shows this many lines from each end of the output.
    output_head_lines = 500
    output_tail_lines = 500

    @property
    def media(self):
        return super().media + ADMIN_MEDIA

    def get_urls(self):
        info = self.opts.app_label, self.opts.model_name
        return [
            path(
                "<path:object_id>/output.txt",
                self.admin_site.admin_view(self.output_view),
                name="{}_{}_output".format(*info),
            ),
            *super().get_urls(),
        ]

    def get_queryset(self, request):
        # The change list adds list_select_related only to a queryset without one.
        return super().get_queryset(request).select_related("job", "scheduled_job__job")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        # Runs are the record of what happened; only superusers remove one,
        # and never while it runs.
        return request.user.is_superuser and (obj is None or not obj.is_running)

    def has_cancel_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("batchrun.cancel_jobrun")

    def get_actions(self, request: HttpRequest, action_location=None):
        # Django 6.1 passes action_location (and warns about an override
        # without it); Django 5.2 has no such parameter.
        extra = {} if action_location is None else {"action_location": action_location}
        actions = super().get_actions(request, **extra)
        actions.pop("delete_selected", None)
        return actions

    def get_search_results(self, request, queryset, search_term):
        terms = [
            unescape_string_literal(term) if term[:1] in "\"'" else term
            for term in smart_split(search_term)
        ]
        for term in terms:
            in_output = LogChunk.objects.filter(
                run=OuterRef("pk"), text__icontains=term
            )
            queryset = queryset.filter(
                Q(job__name__icontains=term)
                | Q(message__icontains=term)
                | Exists(in_output)
            )
        return queryset, False

    def render_change_form(self, request, context, add=False, change=False, **kwargs):
        run = kwargs.get("obj")
        if run is not None:
            context.update(
                status_badge=admin_display.status_badge(run),
                duration=admin_display.format_duration(run.duration),
                command_line=admin_display.format_command_line(run.command_line),
                output=get_output_excerpt(
                    run, self.output_head_lines, self.output_tail_lines
                ),
                output_url=reverse("admin:batchrun_jobrun_output", args=[run.pk]),
                can_cancel=run.is_running
                and run.cancel_requested_at is None
                and self.has_cancel_permission(request),
            )
        return super().render_change_form(request, context, add, change, **kwargs)

    def output_view(self, request: HttpRequest, object_id: str):
        """Stream the whole output of a run as a text file."""
        run = get_object_or_404(JobRun, pk=object_id)
        if not self.has_view_permission(request, run):
            raise PermissionDenied
        streams = None
        stream_name = request.GET.get("stream")
        if stream_name:
            by_name = {label: value for value, label in LogChunk.Stream.choices}
            if stream_name not in by_name:
                return HttpResponseBadRequest(
                    "The stream parameter must be stdout or stderr.",
                    content_type="text/plain; charset=utf-8",
                )
            streams = [by_name[stream_name]]
        response = StreamingHttpResponse(
            iter_output_bytes(run, streams), content_type="text/plain; charset=utf-8"
        )
        suffix = f"-{stream_name}" if stream_name else ""
        response["Content-Disposition"] = (
            f'attachment; filename="run-{run.pk}{suffix}.txt"'
        )
        response["X-Content-Type-Options"] = "nosniff"
        return response

    @admin.display(description=_("status"), ordering="status")
    def status_badge(self, run: JobRun):
        return admin_display.status_badge(run)

    @admin.display(description=_("run"), ordering="-id")
    def title(self, run: JobRun) -> str:
        return format_html(
            '<span class="batchrun-muted">#{}</span> {}', run.pk, run.job.name
        )

    @admin.display(description=_("trigger"), ordering="trigger")
    def trigger_text(self, run: JobRun) -> str:
        if run.scheduled_for is None:
            return run.get_trigger_display()
        return format_html(
            '{} <span class="batchrun-muted">{}</span>',
            run.get_trigger_display(),
            admin_display.format_time(run.scheduled_for, seconds=False),
        )

    @admin.display(description=_("started"), ordering="started_at")
    def started(self, run: JobRun) -> str:
        return admin_display.format_time(run.started_at)

    @admin.display(description=_("duration"))
    def duration_text(self, run: JobRun) -> str:
        return admin_display.format_duration(run.duration)

    @admin.action(description=_("Cancel selected running runs"), permissions=["cancel"])
    def cancel(self, request: HttpRequest, queryset):
        count = queryset.filter(
            status=JobRun.Status.RUNNING, cancel_requested_at__isnull=True
        ).update(cancel_requested_at=timezone.now())
        logger.info("Cancel requested runs=%s user=%s", count, request.user.pk)
        self.message_user(
            request,
            ngettext("Asked %d run to stop.", "Asked %d runs to stop.", count) % count,
            messages.SUCCESS if count else messages.WARNING,
        )


@admin.register(SchedulerHeartbeat)
class SchedulerHeartbeatAdmin(admin.ModelAdmin):
    list_display = ["host", "pid", "started_at", "last_seen_at", "age", "state"]
    readonly_fields = ["age", "state"]

    @property
    def media(self):
        return super().media + ADMIN_MEDIA

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return request.user.is_superuser

    @admin.display(description=_("age"))
    def age(self, heartbeat: SchedulerHeartbeat) -> str:
        return admin_display.format_duration(timezone.now() - heartbeat.last_seen_at)

    @admin.display(description=_("state"))
    def state(self, heartbeat: SchedulerHeartbeat):
        age = (timezone.now() - heartbeat.last_seen_at).total_seconds()
        if age <= conf.lost_after():
            return format_html(
                '<span class="batchrun-badge batchrun-status-succeeded">{}</span>',
                _("alive"),
            )
        return format_html(
            '<span class="batchrun-badge batchrun-status-lost" title="{}">{}</span>',
            _("No sign of life for longer than BATCHRUN_LOST_AFTER."),
            _("silent"),
        )
