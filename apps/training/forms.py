"""The admin's launch form: the task config's common fields (read from rnnservice/ml/config.py's dataclasses,
ranges, choices and per-task defaults), the full JSON of each section for the rest, and job_launch's refusals
shown under the field at fault."""
from __future__ import annotations

import dataclasses
import typing
from typing import Any

from django import forms
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError

from apps.datasets.models import Dataset
from apps.training.models import TrainingJob
from apps.training.services import job_launch
from rnnservice.errors import ServiceError
from rnnservice.ml import tasks
from rnnservice.ml.config import CHOICES, RANGES, TASKS, RunConfig, task_defaults

SECTIONS = ("tokenizer", "architecture", "training", "data")
# The fields a person sets most; every other one is in its section's JSON.
COMMON = ("tokenizer.kind", "architecture.cell", "architecture.num_layers", "architecture.embed_dim",
          "architecture.hidden_dim", "architecture.bidirectional", "architecture.dropout", "training.epochs",
          "training.batch_size", "training.lr", "training.patience", "training.seed")
_SECTION_HELP = ('JSON: any other field of the section, e.g. {}; see the README\'s "Configuration". '
                 "The fields above win over the same key here.")
_EXAMPLES = {"tokenizer": '{"min_freq": 2}', "architecture": '{"char_dim": 32}', "training": '{"weight_decay": 0}',
             "data": '{"lookback": 336, "horizon": 96} (forecasting)'}


def form_name(path: str) -> str:
    """"architecture.cell" as the form field "architecture__cell"."""
    return path.replace(".", "__")


def metric_choices() -> tuple[str, ...]:
    """Every dev metric some task reports, in the tasks' order."""
    return tuple(dict.fromkeys(metric for task in TASKS for metric in tasks.get(task).metrics))


def default_of(path: str, task: str) -> Any:
    """The value a run of `task` gets when nobody sets `path`: the task's defaults, else the dataclass's."""
    section, name = path.split(".")
    defaults = task_defaults(task)
    if name in defaults.get(section, {}):
        return defaults[section][name]
    section_class = typing.get_type_hints(RunConfig)[section]
    return next(f.default for f in dataclasses.fields(section_class) if f.name == name)


def defaults_help(path: str) -> str:
    """"default 2", or "default: tagging 15, classification 10, translation 12" where the tasks differ."""
    values = {task: default_of(path, task) for task in TASKS}
    shown = {task: str(value).lower() if isinstance(value, bool) else str(value) for task, value in values.items()}
    if len(set(shown.values())) == 1:
        return f"default {next(iter(shown.values()))}"
    return "default: " + ", ".join(f"{task} {value}" for task, value in shown.items())


def common_field(path: str) -> forms.Field:
    """A form field of the config field's type, its choices and range, optional (blank: the task's default)."""
    section, name = path.split(".")
    hint = typing.get_type_hints(typing.get_type_hints(RunConfig)[section])[name]
    options = {"required": False, "label": name.replace("_", " "), "help_text": defaults_help(path)}
    low, high = RANGES.get(path, (None, None))
    choices = CHOICES.get(path) or (metric_choices() if path == "training.metric" else None)
    if choices:
        return forms.TypedChoiceField(choices=[("", "(default)"), *((c, c) for c in choices if c)],
                                      empty_value=None, **options)
    if hint is bool:
        return forms.NullBooleanField(widget=forms.Select(choices=[("", "(default)"), ("true", "yes"),
                                                                   ("false", "no")]), **options)
    if hint is int:
        return forms.IntegerField(min_value=low, max_value=high, **options)
    return forms.FloatField(min_value=low, max_value=high, **options)


class DatasetChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj: Dataset) -> str:
        return f"{obj.name} ({obj.task}, {obj.owner})"


class JobLaunchForm(forms.ModelForm):
    """job_launch runs in clean(), so that what it refuses (a dataset the owner may not use, a bad config field)
    shows on the form, under the field it names; by save() the job exists and ModelAdmin only redirects."""

    owner = forms.ModelChoiceField(queryset=get_user_model().objects.order_by("username"))
    dataset = DatasetChoiceField(queryset=Dataset.objects.filter(status=Dataset.Status.VALID)
                                 .select_related("owner").order_by("name", "id"))
    model_name = forms.CharField(max_length=100, help_text="The registered model the version is added to; "
                                                           "created on first use.")
    # One field per COMMON path, declared here so that the form's metaclass takes them in this order (a class
    # body's locals() is its namespace).
    locals().update({form_name(path): common_field(path) for path in COMMON})
    tokenizer, architecture, training, data = (
        forms.JSONField(required=False, initial=dict, help_text=_SECTION_HELP.format(_EXAMPLES[section]),
                        widget=forms.Textarea(attrs={"rows": 3, "cols": 60})) for section in SECTIONS)

    class Meta:
        model = TrainingJob
        fields = ()       # the form sets no model field itself: job_launch does all of it

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        for section in SECTIONS:
            if data.get(section) is not None and not isinstance(data[section], dict):
                self.add_error(section, "must be a JSON object")
        if self.errors:
            return data
        sections = {section: dict(data.get(section) or {}) for section in SECTIONS}
        for path in COMMON:
            section, name = path.split(".")
            if data.get(form_name(path)) is not None:
                sections[section][name] = data[form_name(path)]
        try:
            self.instance = job_launch(owner=data["owner"], dataset=data["dataset"], model_name=data["model_name"],
                                       **{section: values or None for section, values in sections.items()})
        except ServiceError as exc:
            raise ValidationError({self.field_at_fault(str(exc.extra.get("field", "")), data): exc.message}) from exc
        return data

    def field_at_fault(self, path: str, data: dict[str, Any]) -> str | None:
        """The form field an error of job_launch belongs under: the common field when it was set there, else the
        section's JSON ("training.lr" set in the JSON), else the field of that name; None: the form as a whole."""
        if path in COMMON and data.get(form_name(path)) is not None:
            return form_name(path)
        for name in (path.split(".")[0], path):
            if name in self.fields:
                return name
        return None

    def _post_clean(self) -> None:
        """Nothing to check on the model: job_launch validated and saved the job. (ModelForm's own check of an
        empty instance put "This field cannot be null." under filled fields whenever another field failed.)"""
