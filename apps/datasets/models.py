"""The Dataset model: uploaded train/dev/test files, their validation status and statistics."""
from __future__ import annotations

from django.conf import settings
from django.db import models

from rnnservice.ml.config import INPUTS
from rnnservice.ml.formats import format_choices
from rnnservice.ml.tasks import task_choices

SPLITS = ("train", "dev", "test")
# Each split is one file, or two aligned files for translation: `train` holds the source side and
# `train_target` the target side, one sentence a line in both.
FILE_FIELDS = ("train", "train_target", "dev", "dev_target", "test", "test_target")


def dataset_file_path(instance: Dataset, filename: str) -> str:
    """datasets/<id>/<name>: the service saves the row first and names the files itself (never the client)."""
    if instance.pk is None:
        raise ValueError("save the Dataset row before its files: they are stored under its id")
    return f"datasets/{instance.pk}/{filename}"


class Dataset(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending"
        VALID = "valid"
        INVALID = "invalid"

    name = models.CharField(max_length=100)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="datasets")
    task = models.CharField(max_length=20, choices=task_choices)
    format = models.CharField(max_length=20, choices=format_choices, null=True, blank=True,
                              help_text="Given at upload, or guessed from the training file during validation.")
    input = models.CharField(max_length=10, choices=[(kind, kind) for kind in INPUTS], blank=True, default="",
                             help_text="What the files hold, found by validation: tokens (text) or values (numeric "
                                       "series). Training picks the model's defaults by it.")
    train = models.FileField(upload_to=dataset_file_path, max_length=255)
    train_target = models.FileField(upload_to=dataset_file_path, max_length=255, blank=True)
    dev = models.FileField(upload_to=dataset_file_path, max_length=255, blank=True)
    dev_target = models.FileField(upload_to=dataset_file_path, max_length=255, blank=True)
    test = models.FileField(upload_to=dataset_file_path, max_length=255, blank=True)
    test_target = models.FileField(upload_to=dataset_file_path, max_length=255, blank=True)
    sha256 = models.JSONField(default=dict, blank=True, help_text="The sha256 of each stored file, by field name.")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING, db_index=True)
    error = models.TextField(blank=True)
    error_file = models.CharField(max_length=20, blank=True, help_text="The file field the error is in.")
    error_line = models.PositiveIntegerField(null=True, blank=True, help_text="1-based; empty: the whole file.")
    statistics = models.JSONField(default=dict, blank=True)
    created = models.DateTimeField(auto_now_add=True)
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created", "-id"]
        constraints = [models.UniqueConstraint(fields=["owner", "name"], name="dataset_unique_owner_name")]

    def __str__(self) -> str:
        return self.name

    def files(self) -> dict[str, models.fields.files.FieldFile]:
        """The stored files by field name, in FILE_FIELDS order."""
        return {field: getattr(self, field) for field in FILE_FIELDS if getattr(self, field)}
