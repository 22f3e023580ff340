"""Admin for the registry: models with their versions (read-only) and aliases, which are set through alias_set."""
from __future__ import annotations

import json

from django import forms
from django.contrib import admin, messages
from django.db.models import Max, QuerySet
from django.http import HttpRequest
from django.urls import NoReverseMatch, path, reverse
from django.utils.html import format_html, format_html_join

from apps.registry.models import PRODUCTION, Alias, ModelVersion, RegisteredModel
from apps.registry.services import alias_delete, alias_set, model_update
from apps.registry.signatures import signature_differences
from apps.registry.tryit import try_it_context
from rnnservice import compare, display
from rnnservice.curves import epoch_series
from rnnservice.errors import Conflict, ServiceError

LIST_METRICS_FROM = 500      # the latest versions whose metric names make the list's columns


def _members(version: ModelVersion) -> list[dict]:
    """An ensemble's members, as training recorded them (training.ensemble); [] for a single model."""
    return ((version.info or {}).get("split") or {}).get("members") or []


def _job_display(version: ModelVersion) -> str:
    job = getattr(version, "job", None)          # TrainingJob.version, reversed: the registry never imports training
    if job is None:
        return "-"
    try:
        return format_html('<a href="{}">{}</a>', reverse("admin:training_trainingjob_change", args=[job.pk]), job.pk)
    except NoReverseMatch:
        return str(job.pk)


class VersionInline(admin.TabularInline):
    model = ModelVersion
    fields = ("number", "sha256_display", "metrics_display", "dataset", "job_display", "aliases_display", "created")
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request: HttpRequest, obj: RegisteredModel | None = None) -> bool:
        return False            # versions come from training (version_create), never from a form

    def has_change_permission(self, request: HttpRequest, obj: RegisteredModel | None = None) -> bool:
        return False

    def get_queryset(self, request: HttpRequest) -> QuerySet[ModelVersion]:
        return super().get_queryset(request).select_related("dataset").prefetch_related("aliases")

    @admin.display(description="sha256")
    def sha256_display(self, obj: ModelVersion) -> str:
        return display.short_hash(obj.sha256)

    @admin.display(description="metrics")
    def metrics_display(self, obj: ModelVersion) -> str:
        return display.metrics_inline(obj.metrics)

    @admin.display(description="training job")
    def job_display(self, obj: ModelVersion) -> str:
        return _job_display(obj)

    @admin.display(description="aliases")
    def aliases_display(self, obj: ModelVersion) -> str:
        return ", ".join(sorted(alias.name for alias in obj.aliases.all())) or "-"


class AliasForm(forms.ModelForm):
    """An alias row, with the box that confirms a move to a version whose signature differs (labels, input)."""

    confirm = forms.BooleanField(required=False, label="accept changes",
                                 help_text="Move it even to a version whose labels or input kind differ.")

    class Meta:
        model = Alias
        fields = ("name", "version")

    def clean(self) -> dict:
        cleaned = super().clean()
        version, current = cleaned.get("version"), self.instance.version if self.instance.pk else None
        if version is not None and current is not None and version != current and not cleaned.get("confirm"):
            differences = signature_differences(current.signature, version.signature)
            if differences:
                raise forms.ValidationError(
                    f"version {version.number} changes what {self.instance.name!r} (version {current.number}) "
                    f"answers: {'; '.join(differences)}. Tick \"accept changes\" to move it anyway.")
        return cleaned


class AliasInline(admin.TabularInline):
    """Promote a version by pointing an alias (production, staging, ...) at it. RegisteredModelAdmin.save_formset
    writes the rows through alias_set and alias_delete, never through the form."""

    model = Alias
    form = AliasForm
    fields = ("name", "version", "confirm", "updated")
    readonly_fields = ("updated",)
    extra = 1

    def get_formset(self, request: HttpRequest, obj: RegisteredModel | None = None, **kwargs):
        formset = super().get_formset(request, obj, **kwargs)
        if obj is not None:                      # an alias points at a version of its own model only
            field = formset.form.base_fields["version"]
            field.queryset = obj.versions.order_by("-number")
            field.label_from_instance = lambda version: f"version {version.number}"
        return formset


@admin.register(RegisteredModel)
class RegisteredModelAdmin(admin.ModelAdmin):
    list_display = ("name", "task", "owner", "latest_version", "aliases_display", "created")
    list_filter = ("task",)
    search_fields = ("name", "owner__username", "description")
    fields = ("name", "task", "owner", "description", "created")
    readonly_fields = ("name", "task", "owner", "created")
    inlines = (AliasInline, VersionInline)

    class Media:
        css = display.CSS

    def get_queryset(self, request: HttpRequest) -> QuerySet[RegisteredModel]:
        return (super().get_queryset(request).select_related("owner").annotate(latest=Max("versions__number"))
                .prefetch_related("aliases__version"))

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False            # a model is registered with its first version, by training

    def has_delete_permission(self, request: HttpRequest, obj: RegisteredModel | None = None) -> bool:
        return False            # its versions are what applications call, and their folders would be left behind

    @admin.display(description="latest version", ordering="latest")
    def latest_version(self, obj: RegisteredModel) -> int | None:
        return obj.latest

    @admin.display(description="aliases")
    def aliases_display(self, obj: RegisteredModel) -> str:
        return ", ".join(f"{alias.name} → {alias.version.number}" for alias in obj.aliases.all()) or "-"

    def save_model(self, request: HttpRequest, obj: RegisteredModel, form: forms.ModelForm, change: bool) -> None:
        model_update(model=obj, description=form.cleaned_data["description"])

    def save_formset(self, request: HttpRequest, form: forms.ModelForm, formset, change: bool) -> None:
        if formset.model is not Alias:
            return super().save_formset(request, form, formset, change)
        model = form.instance
        # The admin's change message reads these three lists, which formset.save() would have filled.
        formset.new_objects, formset.changed_objects, formset.deleted_objects = [], [], []
        for alias_form in formset.deleted_forms:
            if alias_form.instance.pk is not None:
                alias_delete(model=model, alias=alias_form.instance.name)
                formset.deleted_objects.append(alias_form.instance)
        for alias_form in formset.forms:
            if alias_form in formset.deleted_forms or not alias_form.has_changed() or not alias_form.cleaned_data:
                continue
            old_name = alias_form.initial.get("name")
            name, version = alias_form.cleaned_data["name"], alias_form.cleaned_data["version"]
            if old_name and old_name != name:               # renamed: the old name stops pointing anywhere
                alias_delete(model=model, alias=old_name)
            # AliasForm.clean checked the row's move against its signature (or the box confirmed it).
            alias = alias_set(model=model, alias=name, version_number=version.number, confirm=True)
            if alias_form.instance.pk is None:
                formset.new_objects.append(alias)
            else:
                formset.changed_objects.append((alias, alias_form.changed_data))


@admin.register(ModelVersion)
class ModelVersionAdmin(admin.ModelAdmin):
    """Read-only versions, and the action that promotes one: its model's `production` alias, through alias_set."""

    list_display = ("__str__", "model_link", "sha256_display", "aliases_display", "created_display")
    list_filter = ("model__task",)
    search_fields = ("model__name", "sha256")
    list_select_related = ("model",)
    fields = ("model", "number", "artifact_path", "sha256", "dataset", "job_display", "metrics_display",
              "runtime_display", "info_display", "created")
    readonly_fields = fields
    actions = ("compare_versions", "promote_to_production", "promote_to_production_confirmed")

    class Media:
        js, css = (display.CHART_JS[0], "rnnservice/tryit.js"), display.CSS     # Chart.js: forecasts

    def get_urls(self):
        compared = path("compare/", self.admin_site.admin_view(self.compare_view), name="registry_modelversion_compare")
        return [compared, *super().get_urls()]

    def compare_view(self, request: HttpRequest):
        """Versions side by side: the curves of the jobs that trained them, their metrics and their configs."""
        versions = compare.compared(self, request)
        columns = [{"label": str(version), "url": reverse("admin:registry_modelversion_change", args=[version.pk])}
                   for version in versions]
        runs = []
        for column, version in zip(columns, versions, strict=True):
            job = getattr(version, "job", None)              # as _job_display: the registry never imports training
            if job is not None and job.epochs:
                runs.append({"label": column["label"], **epoch_series(job.epochs)})
        summary = [{"model": version.model.name, "version": version.number, "sha256": version.sha256[:12],
                    "dataset": str(version.dataset) if version.dataset else "-",
                    "aliases": ", ".join(sorted(alias.name for alias in version.aliases.all())) or "-"}
                   for version in versions]
        return compare.compare_page(self, request, columns=columns, runs=runs, tables=[
            {"title": "Summary", "rows": compare.side_by_side(summary)},
            {"title": "Metrics", "rows": compare.side_by_side([version.metrics for version in versions])},
            {"title": "Config", "rows": compare.side_by_side([version.info for version in versions])}])

    @admin.action(description="Compare the selected versions")
    def compare_versions(self, request: HttpRequest, queryset: QuerySet[ModelVersion]):
        return compare.compare_redirect(self, request, queryset)

    def change_view(self, request: HttpRequest, object_id: str, form_url: str = "", extra_context=None):
        version = self.get_object(request, object_id)
        extra = {"try_it": try_it_context(version)} if version is not None else {}
        return super().change_view(request, object_id, form_url, {**extra, **(extra_context or {})})

    def get_queryset(self, request: HttpRequest) -> QuerySet[ModelVersion]:
        return super().get_queryset(request).prefetch_related("aliases")

    def get_list_display(self, request: HttpRequest):
        """The metrics as columns after the hash: one per metric name of the latest versions."""
        latest = self.get_queryset(request).order_by("-created").values_list("metrics", flat=True)[:LIST_METRICS_FROM]
        columns = display.metric_columns(latest, lambda version: version.metrics)
        head, tail = self.list_display[:3], self.list_display[3:]
        return (*head, *columns, *tail)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: ModelVersion | None = None) -> bool:
        return False            # a version is what it was trained to be; only aliases move

    def has_delete_permission(self, request: HttpRequest, obj: ModelVersion | None = None) -> bool:
        return False

    def has_promote_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("registry.add_alias") and request.user.has_perm("registry.change_alias")

    @admin.action(description=f"Promote the selected version to {PRODUCTION}", permissions=["promote"])
    def promote_to_production(self, request: HttpRequest, queryset: QuerySet[ModelVersion]) -> None:
        self._promote(request, queryset, confirm=False)

    @admin.action(description=f"Promote the selected version to {PRODUCTION}, accepting changed labels",
                  permissions=["promote"])
    def promote_to_production_confirmed(self, request: HttpRequest, queryset: QuerySet[ModelVersion]) -> None:
        self._promote(request, queryset, confirm=True)

    def _promote(self, request: HttpRequest, queryset: QuerySet[ModelVersion], *, confirm: bool) -> None:
        versions = list(queryset.select_related("model"))
        models = [version.model_id for version in versions]
        if len(set(models)) != len(models):
            self.message_user(request, "Select at most one version of each model: a model has one production "
                                       "version.", messages.ERROR)
            return
        for version in versions:
            try:
                alias_set(model=version.model, alias=PRODUCTION, version_number=version.number, confirm=confirm)
            except Conflict as exc:
                differences = "; ".join(exc.extra.get("differences", ()))
                self.message_user(request, f"{version.model.name} version {version.number} was not promoted: it "
                                           f"changes what {PRODUCTION} answers ({differences}). Use \"Promote the "
                                           f"selected version to {PRODUCTION}, accepting changed labels\" to promote "
                                           "it anyway.", messages.ERROR)
                continue
            except ServiceError as exc:
                self.message_user(request, exc.message, messages.ERROR)
                continue
            self.message_user(request, f"Promoted {version.model.name} version {version.number} to {PRODUCTION}.",
                              messages.SUCCESS)

    @admin.display(description="created", ordering="created")
    def created_display(self, obj: ModelVersion) -> str:
        return display.short_time(obj.created)

    @admin.display(description="model", ordering="model__name")
    def model_link(self, obj: ModelVersion) -> str:
        url = reverse("admin:registry_registeredmodel_change", args=[obj.model_id])
        return format_html('<a href="{}">{}</a>', url, obj.model.name)

    @admin.display(description="aliases")
    def aliases_display(self, obj: ModelVersion) -> str:
        return ", ".join(sorted(alias.name for alias in obj.aliases.all())) or "-"

    @admin.display(description="training job")
    def job_display(self, obj: ModelVersion) -> str:
        return _job_display(obj)

    @admin.display(description="sha256")
    def sha256_display(self, obj: ModelVersion) -> str:
        return display.short_hash(obj.sha256)

    @admin.display(description="metrics")
    def metrics_display(self, obj: ModelVersion) -> str:
        if not obj.metrics:
            return "-"
        rows = ((name, display.number_cell(obj.metrics[name])) for name in sorted(obj.metrics))
        return format_html('<table class="rnn-table">{}</table>',
                           format_html_join("", "<tr><th>{}</th><td>{}</td></tr>", rows))

    @admin.display(description="runtime")
    def runtime_display(self, obj: ModelVersion) -> str:
        return display.runtime_summary((obj.info or {}).get("runtime"))

    @admin.display(description="ensemble")
    def members_display(self, obj: ModelVersion) -> str:
        return display.members_summary(_members(obj))

    def get_fields(self, request: HttpRequest, obj: ModelVersion | None = None):
        fields = super().get_fields(request, obj)
        if obj is None or not _members(obj):
            return fields
        at = fields.index("metrics_display") + 1                  # an ensemble's members under its metrics
        return (*fields[:at], "members_display", *fields[at:])

    def get_readonly_fields(self, request: HttpRequest, obj: ModelVersion | None = None):
        return self.get_fields(request, obj)

    @admin.display(description="info (config.json)")
    def info_display(self, obj: ModelVersion) -> str:
        return format_html("<details><summary>{} sections</summary><pre>{}</pre></details>", len(obj.info or {}),
                           json.dumps(obj.info, indent=2, sort_keys=True, ensure_ascii=False))
