"""Request and response shapes of the datasets API."""
from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from apps.datasets.models import Dataset
from rnnservice.api import StrictCharField
from rnnservice.ml.config import INPUTS, TASKS
from rnnservice.ml.formats import FORMATS

_TARGET_HELP = "Translation only: the target side when {split} is the source side of two aligned files."


class DatasetCreateInput(serializers.Serializer):
    """Multipart form: the files, with the dataset's name, task and (optionally) format."""

    name = StrictCharField(max_length=100)
    task = serializers.ChoiceField(choices=TASKS)
    format = serializers.ChoiceField(choices=FORMATS, required=False, allow_null=True, default=None,
                                     help_text="Guessed from the training file when left out.")
    train = serializers.FileField()
    train_target = serializers.FileField(required=False, help_text=_TARGET_HELP.format(split="train"))
    dev = serializers.FileField(required=False, help_text="Without it, training splits a seeded dev set off.")
    dev_target = serializers.FileField(required=False, help_text=_TARGET_HELP.format(split="dev"))
    test = serializers.FileField(required=False)
    test_target = serializers.FileField(required=False, help_text=_TARGET_HELP.format(split="test"))

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        # A form keeps the last of two values of a name, and drops names no field takes: a second train file or a
        # misspelt "dev_file" would be lost in silence.
        data = self.initial_data
        unknown = sorted(set(data) - set(self.fields) - {"csrfmiddlewaretoken"})     # a browser form's CSRF token
        if unknown:
            raise serializers.ValidationError({unknown[0]: f"unknown field; the fields are {', '.join(self.fields)}"})
        repeated = [name for name in self.fields if hasattr(data, "getlist") and len(data.getlist(name)) > 1]
        if repeated:
            raise serializers.ValidationError({repeated[0]: "given more than once; send one value (one file)"})
        return attrs


class DatasetOutput(serializers.ModelSerializer):
    owner = serializers.CharField(source="owner.get_username", read_only=True)
    input = serializers.SerializerMethodField(help_text="tokens (text) or values (numeric series), found by "
                                                        "validation; null until then, and for an invalid dataset.")

    class Meta:
        model = Dataset
        fields = ["id", "name", "owner", "task", "format", "input", "status", "error", "error_file", "error_line",
                  "statistics", "sha256", "created", "updated"]
        read_only_fields = fields

    @extend_schema_field({"type": "string", "enum": list(INPUTS), "nullable": True})
    def get_input(self, dataset: Dataset) -> str | None:
        return dataset.input or None
