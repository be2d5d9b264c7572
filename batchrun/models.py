"""
The data model: commands, jobs, scheduled jobs, runs and their output.

A run's output is stored as chunks.  A chunk holds consecutive lines of one
stream that were read from the pipe at the same time; each line of a run thus
still knows its stream and its read time, while a job printing a million
lines costs a few hundred rows instead of a million.
"""

import datetime

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone
from django.utils import timezone as django_timezone
from django.utils.deconstruct import deconstructible
from django.utils.translation import gettext_lazy as _

from . import commandline, conf
from .exceptions import CommandLineError
from .scheduling import RecurrenceRule, get_timezone, parse_field


def get_default_timezone_name() -> str:
    return settings.TIME_ZONE or "UTC"


class Command(models.Model):
    class Type(models.TextChoices):
        EXECUTABLE = "executable", _("executable")
        DJANGO = "django", _("Django management command")

    type = models.CharField(
        _("type"), max_length=20, choices=Type.choices, default=Type.EXECUTABLE
    )
    name = models.CharField(
        _("name"),
        max_length=255,
        help_text=_(
            "A program name on PATH or a path for an executable; the command "
            "name for a Django management command."
        ),
    )
    parameter_format_string = models.CharField(
        _("parameter format string"),
        max_length=1000,
        blank=True,
        help_text=_(
            "Arguments after the program, split like a shell would but never "
            "run by one; {name} placeholders are filled from the job's "
            "arguments, e.g. --rent-id {rent_id}."
        ),
    )
    comment = models.TextField(_("comment"), blank=True)

    class Meta:
        verbose_name = _("command")
        verbose_name_plural = _("commands")
        ordering = ["name", "id"]

    def __str__(self) -> str:
        if self.parameter_format_string:
            return f"{self.name} {self.parameter_format_string}"
        return self.name

    def clean(self) -> None:
        errors = {}
        if "\0" in self.name:
            errors["name"] = _("The name contains a NUL byte.")
        elif self.type == self.Type.DJANGO and (
            not self.name or any(c.isspace() or c == "/" for c in self.name)
        ):
            errors["name"] = _(
                "A Django management command name has no spaces or slashes."
            )
        try:
            commandline.get_placeholders(self.parameter_format_string)
        except CommandLineError as error:
            errors["parameter_format_string"] = str(error)
        if errors:
            raise ValidationError(errors)

    @property
    def placeholders(self) -> list[str]:
        return commandline.get_placeholders(self.parameter_format_string)

    def get_command_line(self, arguments: dict) -> list[str]:
        """Return the argument vector that runs this command with arguments."""
        prefix = commandline.get_program_prefix(self.type, self.name, conf.manage_py())
        return prefix + commandline.fill_arguments(
            self.parameter_format_string, arguments
        )


class Job(models.Model):
    class OverlapPolicy(models.TextChoices):
        ALLOW = "allow", _("allow: start even if the previous run is running")
        SKIP = "skip", _("skip: record a skip while the previous run is running")

    name = models.CharField(_("name"), max_length=255, unique=True)
    comment = models.TextField(_("comment"), blank=True)
    command = models.ForeignKey(
        Command,
        on_delete=models.PROTECT,
        related_name="jobs",
        verbose_name=_("command"),
    )
    arguments = models.JSONField(
        _("arguments"),
        default=dict,
        blank=True,
        help_text=_('A JSON object, e.g. {"rent_id": 123}.'),
    )
    overlap_policy = models.CharField(
        _("overlap policy"),
        max_length=10,
        choices=OverlapPolicy.choices,
        default=OverlapPolicy.ALLOW,
    )
    timeout = models.DurationField(
        _("timeout"),
        null=True,
        blank=True,
        help_text=_("Stop a run that takes longer, e.g. 01:30:00. Empty: no limit."),
    )

    class Meta:
        verbose_name = _("job")
        verbose_name_plural = _("jobs")
        ordering = ["name", "id"]
        permissions = [("run_job", _("Can run a job now"))]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        if not isinstance(self.arguments, dict):
            raise ValidationError(
                {"arguments": _("Arguments must be a JSON object, e.g. {}.")}
            )
        problems = []
        for key, value in self.arguments.items():
            if isinstance(value, bool | int | float | str):
                continue
            problems.append(
                _("Argument %(name)s is not a string, number or boolean: %(value)s.")
                % {"name": key, "value": repr(value)}
            )
        if self.command_id is not None:
            try:
                placeholders = self.command.placeholders
            except CommandLineError:
                placeholders = []
            for name in placeholders:
                if name not in self.arguments:
                    problems.append(
                        _("Argument %(name)s is missing; the command uses {%(name)s}.")
                        % {"name": name}
                    )
        if self.timeout is not None and self.timeout <= datetime.timedelta(0):
            raise ValidationError({"timeout": _("The timeout must be positive.")})
        if problems:
            raise ValidationError({"arguments": problems})

    def get_command_line(self) -> list[str]:
        return self.command.get_command_line(self.arguments)


SPECIFIER_FIELDS = {
    "years": (1970, 2200),
    "months": (1, 12),
    "days_of_month": (1, 31),
    "weekdays": (0, 6),
    "hours": (0, 23),
    "minutes": (0, 59),
}


@deconstructible
class SpecifierValidator:
    """Validate an integer set specifier for one rule field."""

    def __init__(self, field: str) -> None:
        self.field = field

    def __call__(self, value: str) -> None:
        try:
            parse_field(self.field, value)
        except ValueError as error:
            raise ValidationError(str(error)) from error

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SpecifierValidator) and other.field == self.field

    def __hash__(self) -> int:
        return hash(self.field)


def validate_timezone(value: str) -> None:
    try:
        get_timezone(value)
    except ValueError as error:
        raise ValidationError(str(error)) from error


def _specifier_field(name: str, verbose_name, help_text) -> models.CharField:
    return models.CharField(
        verbose_name,
        max_length=200,
        default="*",
        validators=[SpecifierValidator(name)],
        help_text=help_text,
    )


class ScheduledJob(models.Model):
    job = models.ForeignKey(
        Job, on_delete=models.CASCADE, related_name="schedules", verbose_name=_("job")
    )
    enabled = models.BooleanField(_("enabled"), default=True)
    comment = models.TextField(_("comment"), blank=True)
    timezone = models.CharField(
        _("timezone"),
        max_length=64,
        default=get_default_timezone_name,
        validators=[validate_timezone],
    )
    years = _specifier_field("years", _("years"), _("1970-2200, e.g. * or 2027"))
    months = _specifier_field("months", _("months"), _("1-12, e.g. */3"))
    days_of_month = _specifier_field(
        "days_of_month", _("days of month"), _("1-31, e.g. 1,15 or 25-5")
    )
    weekdays = _specifier_field(
        "weekdays", _("weekdays"), _("0-6, 0 is Sunday, e.g. 1-5")
    )
    hours = _specifier_field("hours", _("hours"), _("0-23, e.g. 22-2"))
    minutes = _specifier_field("minutes", _("minutes"), _("0-59, e.g. */15"))
    grace_period = models.DurationField(
        _("grace period"),
        null=True,
        blank=True,
        help_text=_(
            "How late an occurrence may still be launched. Empty: the "
            "BATCHRUN_GRACE_PERIOD setting (five minutes by default)."
        ),
    )
    active_since = models.DateTimeField(
        _("active since"),
        # The field "timezone" above hides the module inside this class.
        default=django_timezone.now,
        editable=False,
        help_text=_("Occurrences before this instant are never launched."),
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("scheduled job")
        verbose_name_plural = _("scheduled jobs")
        ordering = ["job__name", "id"]

    def __str__(self) -> str:
        return f"{self.job}: {self.describe()}"

    def save(self, *args, **kwargs) -> None:
        # Saving never fires the minutes that just went by.
        self.active_since = timezone.now()
        update_fields = kwargs.get("update_fields")
        if update_fields is not None and "active_since" not in update_fields:
            kwargs["update_fields"] = [*update_fields, "active_since"]
        super().save(*args, **kwargs)

    @property
    def recurrence_rule(self) -> RecurrenceRule:
        return RecurrenceRule.create(
            self.timezone,
            self.years,
            self.months,
            self.days_of_month,
            weekdays=self.weekdays,
            hours=self.hours,
            minutes=self.minutes,
        )

    def describe(self) -> str:
        try:
            return self.recurrence_rule.describe()
        except ValueError:
            return _("invalid rule")

    def get_grace_period(self) -> datetime.timedelta:
        if self.grace_period is not None:
            return self.grace_period
        return datetime.timedelta(seconds=conf.grace_period())

    def get_next_events(self, start: datetime.datetime | None = None):
        """Yield the rule's events at or after start (default: now)."""
        return self.recurrence_rule.get_next_events(start or timezone.now())

    def clean(self) -> None:
        try:
            rule = self.recurrence_rule
        except ValueError:
            return  # The field validators report the bad part.
        if next(iter(rule.get_next_events(timezone.now())), None) is None:
            raise ValidationError(
                _("This rule never fires from now on; check the years and days.")
            )


class JobRunQuerySet(models.QuerySet):
    def running(self):
        return self.filter(status=JobRun.Status.RUNNING)

    def finished(self):
        return self.exclude(status=JobRun.Status.RUNNING)


class JobRun(models.Model):
    class Status(models.TextChoices):
        RUNNING = "running", _("running")
        SUCCEEDED = "succeeded", _("succeeded")
        FAILED = "failed", _("failed")
        KILLED = "killed", _("killed")
        TIMED_OUT = "timed_out", _("timed out")
        LOST = "lost", _("lost")
        LAUNCH_FAILED = "launch_failed", _("launch failed")
        SKIPPED = "skipped", _("skipped")

    class Trigger(models.TextChoices):
        SCHEDULE = "schedule", _("schedule")
        MANUAL = "manual", _("manual")

    job = models.ForeignKey(
        Job, on_delete=models.PROTECT, related_name="runs", verbose_name=_("job")
    )
    scheduled_job = models.ForeignKey(
        ScheduledJob,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="runs",
        verbose_name=_("scheduled job"),
    )
    scheduled_for = models.DateTimeField(_("scheduled for"), null=True, blank=True)
    trigger = models.CharField(
        _("trigger"), max_length=10, choices=Trigger.choices, default=Trigger.MANUAL
    )
    status = models.CharField(
        _("status"), max_length=20, choices=Status.choices, default=Status.RUNNING
    )
    created_at = models.DateTimeField(_("created at"), default=timezone.now)
    host = models.CharField(_("host"), max_length=255, blank=True)
    pid = models.IntegerField(_("pid"), null=True, blank=True)
    started_at = models.DateTimeField(_("started at"), null=True, blank=True)
    stopped_at = models.DateTimeField(_("stopped at"), null=True, blank=True)
    exit_code = models.IntegerField(_("exit code"), null=True, blank=True)
    command_line = models.JSONField(_("command line"), null=True, blank=True)
    message = models.TextField(_("message"), blank=True)
    heartbeat_at = models.DateTimeField(_("last heartbeat"), null=True, blank=True)
    cancel_requested_at = models.DateTimeField(
        _("cancel requested at"), null=True, blank=True
    )
    stdout_lines = models.BigIntegerField(_("stdout lines"), default=0)
    stderr_lines = models.BigIntegerField(_("stderr lines"), default=0)
    output_bytes = models.BigIntegerField(_("output bytes"), default=0)
    dropped_bytes = models.BigIntegerField(
        _("dropped bytes"),
        default=0,
        help_text=_("Output dropped from the middle by the output cap."),
    )

    objects = JobRunQuerySet.as_manager()

    class Meta:
        verbose_name = _("job run")
        verbose_name_plural = _("job runs")
        ordering = ["-created_at", "-id"]
        permissions = [("cancel_jobrun", _("Can cancel a running job run"))]
        constraints = [
            models.UniqueConstraint(
                fields=["scheduled_job", "scheduled_for"],
                name="batchrun_one_run_per_occurrence",
            )
        ]
        indexes = [
            models.Index(fields=["created_at", "id"], name="batchrun_run_created"),
            models.Index(fields=["started_at", "id"], name="batchrun_run_started"),
            models.Index(fields=["status", "created_at"], name="batchrun_run_status"),
            models.Index(fields=["job", "created_at"], name="batchrun_run_job"),
            # For ?exit_code= in the JSON API: a rare code finds its runs
            # without reading the whole history.
            models.Index(fields=["exit_code", "created_at"], name="batchrun_run_exit"),
        ]

    def __str__(self) -> str:
        return f"{self.job} #{self.pk}"

    @property
    def duration(self) -> datetime.timedelta | None:
        if self.started_at is None:
            return None
        end = self.stopped_at or timezone.now()
        return end - self.started_at

    @property
    def is_running(self) -> bool:
        return self.status == self.Status.RUNNING


class LogChunk(models.Model):
    """
    Consecutive output lines of one stream of a run, read at the same time.

    ``text`` holds the lines, each ended by ``\\n`` but perhaps the last (a
    line still being written, or a piece of a very long line).  When the
    bytes were not valid UTF-8 or held NUL, ``escaped`` is set and ``text``
    is backslash-escaped; see :mod:`batchrun.output_text`.
    """

    class Stream(models.IntegerChoices):
        STDOUT = 1, "stdout"
        STDERR = 2, "stderr"

    run = models.ForeignKey(JobRun, on_delete=models.CASCADE, related_name="log_chunks")
    seq = models.IntegerField(_("sequence number"))
    stream = models.PositiveSmallIntegerField(_("stream"), choices=Stream.choices)
    time = models.DateTimeField(_("read at"))
    first_line = models.BigIntegerField(
        _("first line"), help_text=_("Number of the chunk's first line in the run.")
    )
    line_count = models.IntegerField(_("line count"))
    escaped = models.BooleanField(_("escaped"), default=False)
    text = models.TextField(_("text"))

    class Meta:
        verbose_name = _("log chunk")
        verbose_name_plural = _("log chunks")
        ordering = ["run", "seq"]
        constraints = [
            models.UniqueConstraint(
                fields=["run", "seq"], name="batchrun_one_chunk_per_seq"
            )
        ]
        indexes = [
            models.Index(fields=["run", "first_line"], name="batchrun_chunk_line"),
        ]

    def __str__(self) -> str:
        return f"{self.run_id}/{self.seq}"


class SchedulerHeartbeat(models.Model):
    """One running scheduler process, so operators can see that it is alive."""

    host = models.CharField(_("host"), max_length=255)
    pid = models.IntegerField(_("pid"))
    started_at = models.DateTimeField(_("started at"), default=timezone.now)
    last_seen_at = models.DateTimeField(_("last seen at"), default=timezone.now)

    class Meta:
        verbose_name = _("scheduler")
        verbose_name_plural = _("schedulers")
        ordering = ["-last_seen_at"]

    def __str__(self) -> str:
        return f"{self.host}:{self.pid}"
