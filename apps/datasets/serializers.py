"""Request and response shapes of the datasets API."""
from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from apps.datasets.models import Dataset
from rnnservice.api import StrictCharField, StrictInput
from rnnservice.ml.config import INPUTS, TASKS
from rnnservice.ml.formats import FORMATS
from rnnservice.schema import ref, typed

_TARGET_HELP = "Translation only: the target side when {split} is the source side of two aligned files."


def _upload(**kwargs: Any) -> serializers.FileField:
    """A file field that takes an empty file: the service refuses it (uploads.py), in the words import_dataset
    gets too."""
    return serializers.FileField(allow_empty_file=True, **kwargs)


class DatasetCreateInput(StrictInput):
    """Multipart form: the files, with the dataset's name, task and (optionally) format."""

    tolerated = frozenset({"csrfmiddlewaretoken"})     # a browser form's CSRF token

    name = StrictCharField(max_length=100)
    task = serializers.ChoiceField(choices=TASKS)
    format = serializers.ChoiceField(choices=FORMATS, required=False,
                                     help_text="Guessed from the training file when left out.")
    train = _upload()
    train_target = _upload(required=False, help_text=_TARGET_HELP.format(split="train"))
    dev = _upload(required=False, help_text="Without it, training splits a seeded dev set off.")
    dev_target = _upload(required=False, help_text=_TARGET_HELP.format(split="dev"))
    test = _upload(required=False)
    test_target = _upload(required=False, help_text=_TARGET_HELP.format(split="test"))

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        # A form keeps the last of two values of a name: a second train file would be lost in silence.
        data = self.initial_data
        repeated = [name for name in self.fields if hasattr(data, "getlist") and len(data.getlist(name)) > 1]
        if repeated:
            raise serializers.ValidationError({repeated[0]: "given more than once; send one value (one file)"})
        return attrs


class DatasetOutput(serializers.ModelSerializer):
    owner = serializers.CharField(source="owner.get_username", read_only=True)
    statistics = typed(serializers.JSONField, ref("DatasetStatistics"), read_only=True)
    sha256 = typed(serializers.JSONField, ref("Sha256Map"), read_only=True)
    input = serializers.SerializerMethodField(help_text="tokens (text) or values (numeric series), found by "
                                                        "validation; null until then, and for an invalid dataset.")

    class Meta:
        model = Dataset
        fields = ["id", "name", "owner", "task", "format", "input", "status", "error", "error_file", "error_line",
                  "statistics", "sha256", "created", "updated"]
        read_only_fields = fields

    @extend_schema_field({"type": ["string", "null"], "enum": [*INPUTS, None]})
    def get_input(self, dataset: Dataset) -> str | None:
        return dataset.input or None
