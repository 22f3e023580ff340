"""Request and response shapes of the registry API."""
from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from apps.registry.models import ALIAS_NAME_PATTERN, Alias, ModelVersion, RegisteredModel
from rnnservice.api import MAX_VERSION, StrictCharField, StrictInput
from rnnservice.schema import ref, typed


class ModelOutput(serializers.ModelSerializer):
    owner = serializers.CharField(source="owner.get_username", read_only=True)
    latest_version = serializers.IntegerField(read_only=True, allow_null=True)
    aliases = serializers.SerializerMethodField(help_text="Alias name -> version number.")

    class Meta:
        model = RegisteredModel
        fields = ["name", "task", "owner", "description", "created", "latest_version", "aliases"]
        read_only_fields = fields

    @extend_schema_field(serializers.DictField(child=serializers.IntegerField()))
    def get_aliases(self, model: RegisteredModel) -> dict[str, int]:
        return {alias.name: alias.version.number for alias in model.aliases.all()}


class ModelVersionOutput(serializers.ModelSerializer):
    dataset = serializers.PrimaryKeyRelatedField(read_only=True, allow_null=True,
                                                 help_text="The dataset it was trained on; null once deleted.")
    job = serializers.SerializerMethodField(help_text="The training job that produced it, if one did.")
    aliases = serializers.SerializerMethodField()
    metrics = typed(serializers.JSONField, ref("Metrics"), read_only=True)
    labels = typed(serializers.JSONField, {"type": "array", "items": {"type": "string"}}, source="info.labels",
                   default=list, read_only=True,
                   help_text="The labels or tags it predicts; empty for open outputs (translation).")
    config = typed(serializers.JSONField, ref("RunConfig", nullable=True), source="info.config", default=None,
                   read_only=True, help_text="The run configuration it was trained with.")
    split = typed(serializers.JSONField, ref("DataSplit", nullable=True), source="info.split", default=None,
                  read_only=True, help_text="How the training and dev examples were split, and the dev metric.")
    runtime = typed(serializers.JSONField, ref("ServingRuntime", nullable=True), source="info.runtime",
                    default=None, read_only=True, help_text="What serves it on a CPU, its ONNX export's check and "
                                                            "timings, and the int8 graph's dev metrics where it "
                                                            "was quantised.")
    best_epoch = serializers.IntegerField(source="info.best_epoch", default=None, read_only=True)
    signature = serializers.JSONField(read_only=True, help_text="What callers depend on: task, input kind and "
                                      "labels (null for open outputs).")

    class Meta:
        model = ModelVersion
        fields = ["number", "sha256", "metrics", "dataset", "job", "created", "aliases", "labels", "best_epoch",
                  "split", "config", "runtime", "signature"]
        read_only_fields = fields

    @extend_schema_field(serializers.IntegerField(allow_null=True))
    def get_job(self, version: ModelVersion) -> int | None:
        # The registry never imports apps.training: TrainingJob.version's reverse accessor is looked up by name.
        job = getattr(version, "job", None)
        return job.pk if job is not None else None

    @extend_schema_field(serializers.ListField(child=serializers.CharField()))
    def get_aliases(self, version: ModelVersion) -> list[str]:
        return sorted(alias.name for alias in version.aliases.all())


class ModelDetailOutput(ModelOutput):
    versions = serializers.SerializerMethodField()

    class Meta(ModelOutput.Meta):
        fields = [*ModelOutput.Meta.fields, "versions"]
        read_only_fields = fields

    @extend_schema_field(ModelVersionOutput(many=True))
    def get_versions(self, model: RegisteredModel) -> list[dict[str, Any]]:
        return ModelVersionOutput(self.context["versions"], many=True).data


class ModelUpdateInput(StrictInput):
    # A PATCH leaves out what stays; but a name or a task in it must not be dropped in silence.
    unknown_message = "cannot be changed; the fields you may change are {fields}"

    description = StrictCharField(allow_blank=True, max_length=10_000)


@extend_schema_field({"type": "string", "pattern": f"^{ALIAS_NAME_PATTERN}$"})
class AliasNameField(StrictCharField):
    """An alias name; the service refuses one that is not a lower-case slug, saying what it takes."""


class AliasInput(StrictInput):
    alias = AliasNameField(max_length=100, help_text="production, staging, or any lower-case slug.")
    version = serializers.IntegerField(min_value=1, max_value=MAX_VERSION)
    confirm = serializers.BooleanField(default=False, help_text="Move the alias even to a version whose signature "
                                       "(labels, input kind) differs from the one it points at; without it such a "
                                       "move is a 409 that lists the differences.")


class AliasOutput(serializers.ModelSerializer):
    model = serializers.CharField(source="model.name", read_only=True)
    alias = serializers.CharField(source="name", read_only=True)
    version = serializers.IntegerField(source="version.number", read_only=True)

    class Meta:
        model = Alias
        fields = ["model", "alias", "version", "updated"]
        read_only_fields = fields
