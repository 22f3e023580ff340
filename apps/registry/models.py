"""Registered models, their numbered versions (an artifact folder under MODELS_STORE each), and aliases."""
from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.core.validators import RegexValidator
from django.db import models
from django.db.models.functions import Lower

from rnnservice.ml.tasks import task_choices

# A model's name is part of URLs (/api/models/<name>/), of artifact paths (<name>/<number>) and of the command
# line's MODEL@VERSION and MODEL:ALIAS, so it is a slug that starts with a letter or digit.
MODEL_NAME_PATTERN = r"[A-Za-z0-9][A-Za-z0-9_-]{0,99}"
# Aliases are lower case and start with a letter, so that "production" is never also "Production" and an alias
# never reads like a version number.
ALIAS_NAME_PATTERN = r"[a-z][a-z0-9_-]{0,49}"
PRODUCTION = "production"
# Folders of MODELS_STORE that hold no model (training keeps its checkpoints in one), so no model is named so.
CHECKPOINTS = "checkpoints"
RESERVED_MODEL_NAMES = frozenset({CHECKPOINTS})

validate_model_name = RegexValidator(
    rf"\A{MODEL_NAME_PATTERN}\Z",
    "Use up to 100 letters, digits, hyphens and underscores, starting with a letter or a digit.")
validate_alias_name = RegexValidator(
    rf"\A{ALIAS_NAME_PATTERN}\Z",
    "Use up to 50 lower-case letters, digits, hyphens and underscores, starting with a letter.")


class RegisteredModel(models.Model):
    name = models.CharField(max_length=100, unique=True, validators=[validate_model_name])
    task = models.CharField(max_length=20, choices=task_choices)
    # PROTECT: deleting a user must not take the models that applications call along with it.
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="registered_models")
    description = models.TextField(blank=True)
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            # Names that differ only in case would share a folder on a case-insensitive file system.
            models.UniqueConstraint(Lower("name"), name="registered_model_unique_lower_name"),
        ]

    def __str__(self) -> str:
        return self.name


class ModelVersion(models.Model):
    model = models.ForeignKey(RegisteredModel, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField(help_text="1, 2, 3... within the model.")
    artifact_path = models.CharField(max_length=255, help_text="The version's folder, relative to MODELS_STORE.")
    sha256 = models.CharField(max_length=64, help_text="The sha256 of the folder's manifest.json: names the version.")
    metrics = models.JSONField(default=dict, blank=True, help_text="Dev metrics of the best epoch.")
    info = models.JSONField(default=dict, blank=True,
                            help_text="From config.json: the run config, labels, data split, per-epoch history.")
    signature = models.JSONField(default=dict, blank=True,
                                 help_text="What callers depend on: task, input kind, labels (None: open outputs). "
                                           "apps/registry/signatures.py.")
    dataset = models.ForeignKey("datasets.Dataset", null=True, blank=True, on_delete=models.SET_NULL,
                                related_name="model_versions")
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["model", "-number"]
        constraints = [
            models.UniqueConstraint(fields=["model", "number"], name="model_version_unique_number"),
            models.CheckConstraint(condition=models.Q(number__gte=1), name="model_version_number_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.model.name} v{self.number}"

    @property
    def folder(self) -> Path:
        """The artifact folder on this machine. artifact_path is written by version_create, never by a client."""
        return Path(settings.MODELS_STORE) / self.artifact_path


class Alias(models.Model):
    model = models.ForeignKey(RegisteredModel, on_delete=models.CASCADE, related_name="aliases")
    name = models.CharField(max_length=50, validators=[validate_alias_name])
    version = models.ForeignKey(ModelVersion, on_delete=models.CASCADE, related_name="aliases")
    created = models.DateTimeField(auto_now_add=True)
    updated = models.DateTimeField(auto_now=True, help_text="When the alias last moved.")

    class Meta:
        ordering = ["model", "name"]
        verbose_name_plural = "aliases"
        constraints = [models.UniqueConstraint(fields=["model", "name"], name="alias_unique_model_name")]

    def __str__(self) -> str:
        return f"{self.model.name}:{self.name}"
