"""The admin of scheduled jobs, with a preview of their next events."""

import zoneinfo

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from . import admin_display
from .admin_display import ADMIN_MEDIA
from .models import ScheduledJob

_SPECIFIERS = ["years", "months", "days_of_month", "weekdays", "hours", "minutes"]


class TimezoneInput(forms.TextInput):
    """A text input suggesting the IANA timezone names."""

    template_name = "admin/batchrun/widgets/timezone.html"

    def get_context(self, name, value, attrs):
        context = super().get_context(name, value, attrs)
        context["timezones"] = sorted(zoneinfo.available_timezones())
        context["widget"]["attrs"]["list"] = f"{context['widget']['attrs']['id']}_list"
        return context


class ScheduledJobForm(forms.ModelForm):
    class Meta:
        model = ScheduledJob
        fields = ["job", "enabled", "comment", "timezone", *_SPECIFIERS, "grace_period"]
        widgets = {
            "comment": forms.Textarea(attrs={"rows": 2, "cols": 60}),
            "timezone": TimezoneInput(attrs={"autocomplete": "off"}),
            **{
                name: forms.TextInput(attrs={"size": 12, "class": "batchrun-spec"})
                for name in _SPECIFIERS
            },
        }


@admin.register(ScheduledJob)
class ScheduledJobAdmin(admin.ModelAdmin):
    form = ScheduledJobForm
    list_display = ["job", "enabled", "rule", "next_run"]
    list_filter = ["enabled", "timezone"]
    list_select_related = ["job"]
    search_fields = ["job__name", "comment"]
    actions = ["enable", "disable"]
    readonly_fields = ["preview", "active_since", "created_at"]
    fieldsets = [
        (None, {"fields": ["job", "enabled", "comment"]}),
        (
            _("When"),
            {
                "fields": [
                    "timezone",
                    "hours",
                    "minutes",
                    "weekdays",
                    "days_of_month",
                    "months",
                    "years",
                ],
                "description": _(
                    "Each field is a set: * (all), 5, 1-5, 1,15, */15 or "
                    "22-2 (wrapping). An event needs every field to match."
                ),
            },
        ),
        (_("Next ten events"), {"fields": ["preview"]}),
        (_("Details"), {"fields": ["grace_period", "active_since", "created_at"]}),
    ]

    @property
    def media(self):
        return super().media + ADMIN_MEDIA + forms.Media(js=["batchrun/preview.js"])

    def get_urls(self):
        info = self.opts.app_label, self.opts.model_name
        return [
            path(
                "preview/",
                self.admin_site.admin_view(self.preview_view),
                name="{}_{}_preview".format(*info),
            ),
            *super().get_urls(),
        ]

    def preview_view(self, request: HttpRequest):
        """Render the preview of the rule in the query string, for the form."""
        if not self.has_view_or_change_permission(
            request
        ) and not self.has_add_permission(request):
            raise PermissionDenied
        values = {name: request.GET.get(name, "*") for name in _SPECIFIERS}
        schedule = ScheduledJob(
            timezone=request.GET.get("timezone", "") or "UTC", **values
        )
        return HttpResponse(admin_display.render_preview(schedule))

    @admin.display(description=_("rule"))
    def rule(self, schedule: ScheduledJob) -> str:
        return schedule.describe()

    @admin.display(description=_("next run"))
    def next_run(self, schedule: ScheduledJob):
        if not schedule.enabled:
            return format_html('<span class="batchrun-muted">{}</span>', _("disabled"))
        event = admin_display.next_event(schedule)
        if event is None:
            return "—"
        return str(event)

    @admin.display(description=_("next events"))
    def preview(self, schedule: ScheduledJob) -> str:
        return format_html(
            '<div id="batchrun-preview" data-url="{}">{}</div>',
            reverse("admin:batchrun_scheduledjob_preview"),
            admin_display.render_preview(schedule),
        )

    @admin.action(
        description=_("Enable selected scheduled jobs"), permissions=["change"]
    )
    def enable(self, request: HttpRequest, queryset):
        # Like save(): enabling never fires the minutes that just went by.
        count = queryset.filter(enabled=False).update(
            enabled=True, active_since=timezone.now()
        )
        self.message_user(
            request,
            ngettext("Enabled %d scheduled job.", "Enabled %d scheduled jobs.", count)
            % count,
            messages.SUCCESS,
        )

    @admin.action(
        description=_("Disable selected scheduled jobs"), permissions=["change"]
    )
    def disable(self, request: HttpRequest, queryset):
        count = queryset.filter(enabled=True).update(enabled=False)
        self.message_user(
            request,
            ngettext("Disabled %d scheduled job.", "Disabled %d scheduled jobs.", count)
            % count,
            messages.SUCCESS,
        )
