"""Admin for datasets: upload through dataset_create, then a read-only view of status, errors and statistics."""
from __future__ import annotations

import json

from django import forms
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.html import format_html, format_html_join, json_script
from django.utils.text import Truncator

from apps.datasets.models import Dataset
from apps.datasets.services import dataset_create, dataset_delete
from rnnservice import display
from rnnservice.errors import ServiceError
from rnnservice.ml.config import TASKS
from rnnservice.ml.formats import FORMATS

CHART_LABELS = 30           # the most frequent labels drawn; the JSON below the charts has them all
_TARGET_HELP = "Translation only: the target side when {split} is the source side of two aligned files."


class DatasetAddForm(forms.ModelForm):
    """The admin's upload form. dataset_create runs in clean(), so that what it refuses (a name in use, a
    limit) shows on the form; by save() the dataset exists and ModelAdmin only logs and redirects."""

    name = forms.CharField(max_length=100)
    owner = forms.ModelChoiceField(queryset=get_user_model().objects.order_by("username"))
    task = forms.ChoiceField(choices=[(task, task) for task in TASKS])
    format = forms.ChoiceField(choices=[("", "guess from the training file"), *((f, f) for f in FORMATS)],
                               required=False)
    train = forms.FileField()
    train_target = forms.FileField(required=False, help_text=_TARGET_HELP.format(split="train"))
    dev = forms.FileField(required=False, help_text="Without it, training splits a seeded dev set off.")
    dev_target = forms.FileField(required=False, help_text=_TARGET_HELP.format(split="dev"))
    test = forms.FileField(required=False)
    test_target = forms.FileField(required=False, help_text=_TARGET_HELP.format(split="test"))

    class Meta:
        model = Dataset
        fields = ()       # the form sets no model field itself: dataset_create does all of it

    def clean(self):
        data = super().clean()
        if self.errors:
            return data
        try:
            self.instance = dataset_create(**{**data, "format": data["format"] or None})
        except ServiceError as exc:
            field = exc.extra.get("field")
            raise ValidationError({field if field in self.fields else None: exc.message}) from exc
        return data

    def _post_clean(self) -> None:
        """Nothing to check on the model: dataset_create validated and saved the data set. (ModelForm's own check
        of an empty instance put "This field cannot be null." under filled fields whenever another field failed.)"""


@admin.register(Dataset)
class DatasetAdmin(admin.ModelAdmin):
    list_display = ("name", "owner", "task", "format", "input", "status", "examples_display", "first_error",
                    "created_display")
    list_filter = ("status", "task", "input")
    search_fields = ("name", "owner__username")
    list_select_related = ("owner",)
    fields = ("name", "owner", "task", "format", "input", "status", "error_display", "files_display",
              "statistics_display", "created", "updated")
    readonly_fields = fields

    class Media:
        js, css = display.CHART_JS, display.CSS

    def get_form(self, request: HttpRequest, obj: Dataset | None = None, change: bool = False, **kwargs):
        if obj is None:
            return DatasetAddForm
        return super().get_form(request, obj, change, **kwargs)

    def get_fields(self, request: HttpRequest, obj: Dataset | None = None):
        return list(DatasetAddForm.base_fields) if obj is None else self.fields

    def get_readonly_fields(self, request: HttpRequest, obj: Dataset | None = None):
        return () if obj is None else self.readonly_fields

    def get_changeform_initial_data(self, request: HttpRequest) -> dict:
        return {"owner": request.user.pk, **super().get_changeform_initial_data(request)}

    def has_change_permission(self, request: HttpRequest, obj: Dataset | None = None) -> bool:
        return False      # a dataset is immutable; an invalid one is deleted and uploaded again

    def save_model(self, request: HttpRequest, obj: Dataset, form: forms.Form, change: bool) -> None:
        """Nothing to do: DatasetAddForm.clean() created the dataset through dataset_create."""

    def delete_model(self, request: HttpRequest, obj: Dataset) -> None:
        dataset_delete(dataset=obj)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Dataset]) -> None:
        for dataset in queryset:
            dataset_delete(dataset=dataset)

    @admin.display(description="error")
    def error_display(self, obj: Dataset) -> str:
        if not obj.error:
            return "-"
        where = obj.error_file + (f", line {obj.error_line}" if obj.error_line else "")
        return f"{where}: {obj.error}" if where else obj.error

    @admin.display(description="created", ordering="created")
    def created_display(self, obj: Dataset) -> str:
        return display.short_time(obj.created)

    @admin.display(description="examples")
    def examples_display(self, obj: Dataset) -> str:
        splits = (obj.statistics or {}).get("splits", {})
        return " · ".join(f"{split} {stats['examples']:,}" for split, stats in splits.items()) or "-"

    @admin.display(description="error")
    def first_error(self, obj: Dataset) -> str:
        """The error's first line, cut to fit a column; the whole of it on hover and on the data set's page."""
        if not obj.error:
            return "-"
        full = self.error_display(obj)
        return format_html('<span class="rnn-error" title="{}">{}</span>', full,
                           Truncator(full.splitlines()[0]).chars(80))

    @admin.display(description="files")
    def files_display(self, obj: Dataset) -> str:
        rows = ((field, stored.name, obj.sha256.get(field, "")) for field, stored in obj.files().items())
        return format_html("<table>{}</table>", format_html_join(
            "", "<tr><th>{}</th><td>{}</td><td><code>sha256 {}</code></td></tr>", rows))

    @admin.display(description="statistics")
    def statistics_display(self, obj: Dataset) -> str:
        """Per split its counts, then its label counts and length histogram as bar charts; the JSON below."""
        if not obj.statistics:
            return "-"
        splits = obj.statistics.get("splits", {})
        counts = format_html_join("", "<tr><th>{}</th><td>{}</td><td>{}</td><td>{}</td></tr>", (
            (split, f"{stats.get('examples', 0):,}", f"{stats.get('tokens', 0):,}",
             " / ".join(str(stats.get("length", {}).get(key, "-")) for key in ("p50", "p90", "p99", "max")))
            for split, stats in splits.items()))
        return format_html(
            '<div class="rnn-wide"><table class="rnn-table"><thead><tr><th>split</th><th>examples</th><th>tokens</th>'
            '<th>length p50 / p90 / p99 / max</th></tr></thead><tbody>{}</tbody></table>'
            '<div data-bars="dataset-charts"></div>{}<details><summary>JSON</summary><pre>{}</pre></details></div>',
            counts, json_script({"charts": statistics_charts(splits)}, "dataset-charts"),
            json.dumps(obj.statistics, indent=2, ensure_ascii=False))


def statistics_charts(splits: dict[str, dict]) -> list[dict]:
    """The bar charts of a data set's page: per split its most frequent labels and its length histogram."""
    charts = []
    for split, stats in splits.items():
        labels = list(stats.get("labels", {}).items())[:CHART_LABELS]      # most frequent first, as stored
        if labels:
            charts.append({"title": f"{split}: labels", "labels": [name for name, _ in labels],
                           "values": [count for _, count in labels]})
        bins = stats.get("length_histogram") or []
        if bins:
            charts.append({"title": f"{split}: length", "x": "tokens per example",
                           "labels": [str(low) if low == high else f"{low}–{high}" for low, high, _ in bins],
                           "values": [count for _, _, count in bins]})
    return charts
