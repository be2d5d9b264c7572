"""
The Django admin of batchrun: commands, jobs, schedules, runs, schedulers.

This module holds commands and jobs; ``admin_schedules`` and ``admin_runs``
register the rest. Permissions beyond Django's four per model:

* ``batchrun.run_job`` allows the "Run now" action on jobs;
* ``batchrun.cancel_jobrun`` allows the "Cancel" action on running runs.

Whoever may change commands may make the scheduler run any program as its
own user; grant the change permission on Command accordingly.
"""

import logging

from django import forms
from django.contrib import admin, messages
from django.db.models import Count, OuterRef, Subquery
from django.http import HttpRequest, HttpResponseRedirect
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from . import admin_display, admin_runs, admin_schedules  # noqa: F401 (register)
from .admin_display import ADMIN_MEDIA, run_link
from .models import Command, Job, JobRun

logger = logging.getLogger(__name__)


@admin.register(Command)
class CommandAdmin(admin.ModelAdmin):
    list_display = ["name", "type", "parameter_format_string", "job_count"]
    list_filter = ["type"]
    search_fields = ["name", "parameter_format_string", "comment"]
    fieldsets = [
        (
            None,
            {
                "fields": ["type", "name", "parameter_format_string", "comment"],
                "description": _(
                    "A command is run as the scheduler's operating system "
                    "user: whoever may change commands may run any program."
                ),
            },
        )
    ]

    @property
    def media(self):
        return super().media + ADMIN_MEDIA

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(job_count=Count("jobs"))

    @admin.display(description=_("jobs"), ordering="job_count")
    def job_count(self, command: Command) -> int:
        return command.job_count


class JobForm(forms.ModelForm):
    class Meta:
        model = Job
        fields = [
            "name",
            "command",
            "arguments",
            "comment",
            "overlap_policy",
            "timeout",
        ]
        widgets = {
            "arguments": forms.Textarea(attrs={"rows": 4, "cols": 60}),
            "comment": forms.Textarea(attrs={"rows": 2, "cols": 60}),
        }


@admin.register(Job)
class JobAdmin(admin.ModelAdmin):
    form = JobForm
    list_display = ["name", "command", "arguments_text", "schedules", "last_run"]
    list_select_related = ["command"]
    list_filter = ["overlap_policy", "command"]
    search_fields = ["name", "comment", "command__name"]
    actions = ["run_now"]
    readonly_fields = ["command_line", "recent_runs"]
    fieldsets = [
        (None, {"fields": ["name", "command", "arguments", "comment"]}),
        (_("Running"), {"fields": ["overlap_policy", "timeout", "command_line"]}),
        (_("Recent runs"), {"fields": ["recent_runs"]}),
    ]

    @property
    def media(self):
        return super().media + ADMIN_MEDIA

    def get_queryset(self, request):
        latest = JobRun.objects.filter(job=OuterRef("pk")).order_by(
            "-created_at", "-id"
        )
        return (
            super()
            .get_queryset(request)
            .annotate(
                schedule_count=Count("schedules"),
                last_run_id=Subquery(latest.values("id")[:1]),
                last_run_status=Subquery(latest.values("status")[:1]),
                last_run_at=Subquery(latest.values("created_at")[:1]),
            )
        )

    def has_run_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("batchrun.run_job")

    def change_view(self, request, object_id, form_url="", extra_context=None):
        extra_context = {
            **(extra_context or {}),
            "can_run": self.has_run_permission(request),
        }
        return super().change_view(request, object_id, form_url, extra_context)

    @admin.display(description=_("arguments"))
    def arguments_text(self, job: Job) -> str:
        if not job.arguments:
            return "—"
        if not isinstance(job.arguments, dict):
            return repr(job.arguments)
        return ", ".join(f"{key}={value!r}" for key, value in job.arguments.items())

    @admin.display(description=_("schedules"), ordering="schedule_count")
    def schedules(self, job: Job) -> int:
        return job.schedule_count

    @admin.display(description=_("last run"), ordering="last_run_at")
    def last_run(self, job: Job) -> str:
        if job.last_run_id is None:
            return "—"
        run = JobRun(pk=job.last_run_id, status=job.last_run_status)
        url = reverse("admin:batchrun_jobrun_change", args=[run.pk])
        return format_html(
            '<a href="{}">{}</a> {}',
            url,
            admin_display.status_badge(run),
            timezone.localtime(job.last_run_at).strftime("%Y-%m-%d %H:%M"),
        )

    @admin.display(description=_("command line"))
    def command_line(self, job: Job) -> str:
        return format_html(
            '<code class="batchrun-command-line">{}</code>',
            admin_display.job_command_line(job),
        )

    @admin.display(description=_("recent runs"))
    def recent_runs(self, job: Job) -> str:
        if job.pk is None:
            return "—"
        rows = [
            {
                "run": run,
                "url": reverse("admin:batchrun_jobrun_change", args=[run.pk]),
                "badge": admin_display.status_badge(run),
                "duration": admin_display.format_duration(run.duration),
                "created": admin_display.format_time(run.created_at),
            }
            for run in job.runs.order_by("-created_at", "-id")[:10]
        ]
        all_url = reverse("admin:batchrun_jobrun_changelist")
        return render_to_string(
            "admin/batchrun/job/recent_runs.html",
            {"rows": rows, "all_url": f"{all_url}?job__id__exact={job.pk}"},
        )

    @admin.action(description=_("Run now"), permissions=["run"])
    def run_now(self, request: HttpRequest, queryset):
        from .job_launching import run_job

        runs = []
        for job in queryset.select_related("command"):
            try:
                runs.append(run_job(job))
            except Exception as error:
                logger.exception("Run now failed job=%s", job.pk)
                self.message_user(
                    request,
                    _("Job %(job)s could not be started: %(error)s")
                    % {"job": job, "error": error},
                    messages.ERROR,
                )
        if len(runs) == 1 and queryset.count() == 1:
            url = reverse("admin:batchrun_jobrun_change", args=[runs[0].pk])
            return HttpResponseRedirect(url)
        if runs:
            links = format_html_join(", ", "{}", ((run_link(run),) for run in runs))
            self.message_user(
                request,
                format_html(
                    "{} {}",
                    ngettext("Started %d run:", "Started %d runs:", len(runs))
                    % len(runs),
                    links,
                ),
                messages.SUCCESS,
            )
        return None
