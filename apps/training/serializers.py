"""Request and response shapes of the training-jobs API."""
from __future__ import annotations

from typing import Any

from rest_framework import serializers

from apps.datasets.models import Dataset
from apps.datasets.selectors import dataset_list
from apps.training.models import TrainingJob
from rnnservice.api import MAX_ID, StrictCharField, StrictInput
from rnnservice.schema import ref, typed

_SECTION_HELP = "Overrides of the task's defaults, as in the core's --config (rnnservice/ml/config.py)."


class VisibleDatasetField(serializers.PrimaryKeyRelatedField):
    """A dataset id the requesting user may see; any other id reads as one that does not exist."""

    default_error_messages = {"does_not_exist": "no dataset with id {pk_value}"}

    def get_queryset(self):
        return dataset_list(user=self.context["request"].user)

    def to_internal_value(self, data: Any) -> Dataset:
        # A number past any id would overflow the query (DRF catches only TypeError and ValueError): none such.
        try:
            number = int(data) if isinstance(data, (int, str)) and not isinstance(data, bool) else None
        except ValueError:
            number = None
        if number is not None and not 1 <= number <= MAX_ID:
            self.fail("does_not_exist", pk_value=data)
        return super().to_internal_value(data)


def _section(name: str) -> serializers.DictField:
    return typed(serializers.DictField, ref(name), required=False, help_text=_SECTION_HELP)


class JobLaunchInput(StrictInput):
    dataset = VisibleDatasetField(queryset=Dataset.objects.none(), help_text="The id of a valid dataset.")
    model_name = StrictCharField(max_length=100, help_text="The registered model the version is added to; "
                                                                 "created on first use.")
    tokenizer = _section("TokenizerConfig")
    architecture = _section("ArchitectureConfig")
    training = _section("TrainingConfig")
    data = _section("DataConfig")


class VersionOutput(serializers.Serializer):
    model = serializers.CharField(source="model.name")
    number = serializers.IntegerField()


class JobListOutput(serializers.ModelSerializer):
    owner = serializers.CharField(source="owner.get_username", read_only=True)
    dataset = serializers.IntegerField(source="dataset_id", read_only=True)
    version = VersionOutput(read_only=True, allow_null=True)

    class Meta:
        model = TrainingJob
        fields = ["id", "owner", "dataset", "model_name", "status", "cancel_requested", "progress", "error",
                  "version", "created", "started", "finished"]
        read_only_fields = fields


class JobOutput(JobListOutput):
    """A job with its per-epoch metrics (`epochs`: one row per epoch), log tail and config."""

    stopped_early = serializers.CharField(read_only=True, help_text='"stopped early at epoch 7 of 8: dev accuracy '
                                          'has not improved for 4 epochs"; empty when it was not.')
    epochs = typed(serializers.JSONField, {"type": "array", "items": ref("Epoch")}, read_only=True)
    config = typed(serializers.JSONField, ref("RunConfig"), read_only=True)

    class Meta(JobListOutput.Meta):
        fields = [*JobListOutput.Meta.fields, "device", "epochs", "log_tail", "attempts", "worker", "heartbeat_at",
                  "config", "warnings", "stopped_early"]
        read_only_fields = fields
