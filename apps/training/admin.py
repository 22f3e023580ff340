"""Admin for training jobs: launch through job_launch, watch status, progress and per-epoch metrics, cancel."""
from __future__ import annotations

import json

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponseNotAllowed, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import NoReverseMatch, path, reverse
from django.utils.html import format_html, format_html_join, json_script

from apps.training.curves import job_curves, latest_metrics
from apps.training.forms import COMMON, SECTIONS, JobLaunchForm, form_name
from apps.training.models import TrainingJob
from apps.training.services import job_cancel, job_delete
from rnnservice import compare, display
from rnnservice.curves import epoch_series
from rnnservice.errors import ServiceError

LIST_METRICS_FROM = 200      # the latest jobs whose metric names make the list's columns
EPOCH_FIRST, EPOCH_LAST = ("epoch", "train_loss"), ("tokens_per_s", "seconds", "lr", "is_best", "attempt")


@admin.register(TrainingJob)
class TrainingJobAdmin(admin.ModelAdmin):
    # What fits 1280 px beside the admin's menu: the finish time and full dates are on the job's page.
    list_display = ("__str__", "owner", "dataset", "progress_display", "version_short", "created_display")
    list_filter = ("status",)
    search_fields = ("model_name", "owner__username", "dataset__name")
    list_select_related = ("owner", "dataset", "version__model")
    actions = ("compare_jobs", "cancel_jobs")
    fields = ("curves_display", "owner", "dataset", "model_name", "cancel_requested", "version_display",
              "error", "stopped_early", "warnings_display", "epochs_display", "log_display", "device", "worker",
              "attempts", "created", "sent_at", "started", "heartbeat_at", "finished", "config_display")
    readonly_fields = fields

    class Media:
        js, css = display.CHART_JS, display.CSS

    def get_urls(self):
        cancel = path("<int:pk>/cancel/", self.admin_site.admin_view(self.cancel_view),
                      name="training_trainingjob_cancel")
        compared = path("compare/", self.admin_site.admin_view(self.compare_view), name="training_trainingjob_compare")
        return [cancel, compared, *super().get_urls()]

    def compare_view(self, request: HttpRequest):
        """Jobs side by side: their curves overlaid, their last epoch's metrics and their configs."""
        jobs = compare.compared(self, request)
        columns = [{"label": f"job {job.pk}: {job.model_name}",
                    "url": reverse("admin:training_trainingjob_change", args=[job.pk])} for job in jobs]
        runs = [{"label": column["label"], **epoch_series(job.epochs)}
                for column, job in zip(columns, jobs, strict=True)]
        summary = [{"status": job.status, "epochs": f"{len(job.epochs)} of {job.planned_epochs}",
                    "dataset": str(job.dataset), "version": self.version_label(job)} for job in jobs]
        return compare.compare_page(self, request, columns=columns, runs=runs, tables=[
            {"title": "Summary", "rows": compare.side_by_side(summary)},
            {"title": "Metrics (last epoch)", "rows": compare.side_by_side([latest_metrics(j.epochs) for j in jobs])},
            {"title": "Config", "rows": compare.side_by_side([job.config for job in jobs])}])

    @staticmethod
    def version_label(job: TrainingJob) -> str:
        return f"{job.version.model.name} version {job.version.number}" if job.version else "-"

    def cancel_view(self, request: HttpRequest, pk: int) -> HttpResponseRedirect:
        """The job page's Cancel button (a POST with the page's CSRF token): job_cancel, then back to the page."""
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        job = get_object_or_404(self.get_queryset(request), pk=pk)
        # Whoever may see the job may cancel it, as with the list's action.
        self.cancel_jobs(request, TrainingJob.objects.filter(pk=job.pk))
        return HttpResponseRedirect(reverse("admin:training_trainingjob_change", args=[job.pk]))

    def get_list_display(self, request: HttpRequest):
        """The last epoch's train loss and dev metrics as columns after the progress bar."""
        latest = self.get_queryset(request).values_list("epochs", flat=True)[:LIST_METRICS_FROM]
        columns = display.metric_columns((latest_metrics(rows) for rows in latest),
                                         lambda job: latest_metrics(job.epochs))
        at = self.list_display.index("progress_display") + 1
        return (*self.list_display[:at], *columns, *self.list_display[at:])

    def get_form(self, request: HttpRequest, obj: TrainingJob | None = None, change: bool = False, **kwargs):
        if obj is None:
            return JobLaunchForm
        return super().get_form(request, obj, change, **kwargs)

    def get_fields(self, request: HttpRequest, obj: TrainingJob | None = None):
        return list(JobLaunchForm.base_fields) if obj is None else self.fields

    def get_fieldsets(self, request: HttpRequest, obj: TrainingJob | None = None):
        if obj is not None:
            return super().get_fieldsets(request, obj)
        by_section = [(section.capitalize(), {"fields": [form_name(p) for p in COMMON if p.startswith(f"{section}.")]})
                      for section in SECTIONS]
        return [(None, {"fields": ["owner", "dataset", "model_name"]}), *by_section,
                ("Full JSON of each section", {"fields": list(SECTIONS), "classes": ["collapse"]})]

    def get_readonly_fields(self, request: HttpRequest, obj: TrainingJob | None = None):
        return () if obj is None else self.readonly_fields

    def get_changeform_initial_data(self, request: HttpRequest) -> dict:
        return {"owner": request.user.pk, **super().get_changeform_initial_data(request)}

    def has_change_permission(self, request: HttpRequest, obj: TrainingJob | None = None) -> bool:
        return False      # a job is changed by its worker only; cancel it with the action

    def has_delete_permission(self, request: HttpRequest, obj: TrainingJob | None = None) -> bool:
        if obj is not None and obj.status in TrainingJob.ACTIVE:
            return False  # cancel it first
        return super().has_delete_permission(request, obj)

    def save_model(self, request: HttpRequest, obj: TrainingJob, form: forms.Form, change: bool) -> None:
        """Nothing to do: JobLaunchForm.clean() created the job through job_launch."""

    def delete_model(self, request: HttpRequest, obj: TrainingJob) -> None:
        job_delete(job=obj)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[TrainingJob]) -> None:
        for job in queryset:
            try:
                job_delete(job=job)
            except ServiceError as exc:
                self.message_user(request, exc.message, messages.WARNING)

    @admin.action(description="Compare the selected jobs")
    def compare_jobs(self, request: HttpRequest, queryset: QuerySet[TrainingJob]):
        return compare.compare_redirect(self, request, queryset)

    @admin.action(description="Cancel the selected jobs")
    def cancel_jobs(self, request: HttpRequest, queryset: QuerySet[TrainingJob]) -> None:
        cancelled = 0
        for job in queryset:
            try:
                job_cancel(job=job)
                cancelled += 1
            except ServiceError as exc:
                self.message_user(request, exc.message, messages.WARNING)
        if cancelled:
            self.message_user(request, f"{cancelled} job(s) cancelled; a running job stops at the end of its "
                                       "current epoch.", messages.SUCCESS)

    @admin.display(description="status", ordering="status")
    def progress_display(self, obj: TrainingJob) -> str:
        done = len(obj.epochs)
        return format_html('<span class="rnn-nowrap">{} <progress class="rnn-list-progress" max="1" value="{}" '
                           'title="{} of {} epochs"></progress> {}%</span>', obj.status, obj.progress, done,
                           obj.planned_epochs, round(obj.progress * 100))

    @admin.display(description="warnings")
    def warnings_display(self, obj: TrainingJob) -> str:
        if not obj.warnings:
            return "-"
        return format_html('<ul class="rnn-warnings">{}</ul>', format_html_join("", "<li>{}</li>",
                                                                               ((w,) for w in obj.warnings)))

    @admin.display(description="training")
    def curves_display(self, obj: TrainingJob) -> str:
        """Status, progress and one chart per curve; charts.js polls the API while the job is queued or running."""
        curves = job_curves(obj)
        early = f"stopped early at epoch {curves['stopped_early_at']}" if curves["stopped_early_at"] else ""
        cancel = format_html('<button type="submit" class="button" formaction="{}" formnovalidate data-while-active '
                             'id="cancel-job">Cancel job</button>',
                             reverse("admin:training_trainingjob_cancel", args=[obj.pk]))
        return format_html(
            '<div class="rnn-curves rnn-wide" data-curves="curves" data-poll-url="{}">'
            '<p class="rnn-status">status: <span data-field="status">{}</span>'
            '<progress max="1" value="{}"></progress><span data-field="progress">{}% ({} of {} epochs)</span>'
            '<span data-field="early">{}</span>{}</p><div class="rnn-chart-grid"></div></div>{}',
            reverse("training:detail", args=[obj.pk]), obj.status, obj.progress, round(obj.progress * 100),
            len(curves["epochs"]), obj.planned_epochs, early, cancel if obj.status in TrainingJob.ACTIVE else "",
            json_script(curves, "curves"))

    @admin.display(description="version")
    def version_short(self, obj: TrainingJob) -> str:
        """"v2", linked: the model's name is the job's own."""
        if obj.version is None:
            return "-"
        url = reverse("admin:registry_modelversion_change", args=[obj.version.pk])
        return format_html('<a href="{}" title="{}">v{}</a>', url, self.version_label(obj), obj.version.number)

    @admin.display(description="created", ordering="created")
    def created_display(self, obj: TrainingJob) -> str:
        return display.short_time(obj.created)

    @admin.display(description="version")
    def version_display(self, obj: TrainingJob) -> str:
        if obj.version is None:
            return "-"
        label = self.version_label(obj)
        try:
            url = reverse("admin:registry_modelversion_change", args=[obj.version.pk])
        except NoReverseMatch:
            return label
        return format_html('<a href="{}">{}</a>', url, label)

    @admin.display(description="per-epoch metrics")
    def epochs_display(self, obj: TrainingJob) -> str:
        if not obj.epochs:
            return "-"
        # In a fixed order: PostgreSQL's jsonb keeps an object's keys in an order of its own.
        keys = {key for row in obj.epochs for key in row}
        columns = ([key for key in EPOCH_FIRST if key in keys] + sorted(keys - {*EPOCH_FIRST, *EPOCH_LAST})
                   + [key for key in EPOCH_LAST if key in keys])
        head = format_html_join("", "<th>{}</th>", ((column,) for column in columns))
        rows = format_html_join("", "<tr>{}</tr>", (
            (format_html_join("", "<td>{}</td>", ((display.number_cell(row.get(column, "")),) for column in columns)),)
            for row in obj.epochs))
        return format_html('<table class="rnn-table"><thead><tr>{}</tr></thead><tbody>{}</tbody></table>', head,
                           rows)

    @admin.display(description="log")
    def log_display(self, obj: TrainingJob) -> str:
        return format_html("<pre>{}</pre>", obj.log_tail) if obj.log_tail else "-"

    @admin.display(description="config")
    def config_display(self, obj: TrainingJob) -> str:
        return format_html("<pre>{}</pre>", json.dumps(obj.config, indent=2, ensure_ascii=False))
