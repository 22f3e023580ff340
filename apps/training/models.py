"""The TrainingJob model: what to train on, with which config, and how far it got."""
from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models

from apps.datasets.models import Dataset
from rnnservice.ml import tasks


class TrainingJob(models.Model):
    class Status(models.TextChoices):
        QUEUED = "queued"
        RUNNING = "running"
        SUCCEEDED = "succeeded"
        FAILED = "failed"
        CANCELLED = "cancelled"

    ACTIVE = (Status.QUEUED, Status.RUNNING)

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="training_jobs")
    # PROTECT: a job's record (and a resumable checkpoint) needs its data; delete the jobs first.
    dataset = models.ForeignKey(Dataset, on_delete=models.PROTECT, related_name="training_jobs")
    model_name = models.CharField(max_length=100, help_text="The registered model the new version is added to.")
    config = models.JSONField(help_text="The full run config (rnnservice.ml.config.RunConfig), validated at launch.")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED, db_index=True)
    cancel_requested = models.BooleanField(default=False, help_text="Seen by the worker at the end of an epoch.")
    device = models.CharField(max_length=20, blank=True, help_text="Where it trained: cpu, cuda:0, ...")
    progress = models.FloatField(default=0.0, validators=[MinValueValidator(0.0), MaxValueValidator(1.0)],
                                 help_text="Epochs done / epochs planned; 1 when it succeeded.")
    epochs = models.JSONField(default=list, blank=True,
                              help_text="One row per epoch: Epoch.to_dict() and the attempt that trained it.")
    log_tail = models.TextField(blank=True, help_text="The last lines of the job's log.")
    error = models.TextField(blank=True, help_text='"Type: message" of what made it fail.')
    warnings = models.JSONField(default=list, blank=True,
                                help_text="What the owner should know, one sentence each: a dev split too small or "
                                          "missing labels (at launch), a version whose labels differ from an "
                                          "alias's (at registration).")
    created = models.DateTimeField(auto_now_add=True)
    started = models.DateTimeField(null=True, blank=True, help_text="When a worker first took it.")
    finished = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True,
                                        help_text="Written while running; a stale one means the worker died.")
    attempts = models.PositiveIntegerField(default=0, help_text="How many times a worker has started it.")
    sent_at = models.DateTimeField(null=True, blank=True,
                                   help_text="When train_model was last sent for it; empty: never (the broker was "
                                             "down at launch). A job queued long after it is sent again.")
    worker = models.CharField(max_length=255, blank=True, help_text="The worker of the latest attempt.")
    memory_watch = models.JSONField(default=dict, blank=True,
                                    help_text="The machine and its count of OOM kills when the latest attempt "
                                              "started (apps/training/oom.py); empty when it cannot be read.")
    version = models.OneToOneField("registry.ModelVersion", null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="job")

    class Meta:
        ordering = ["-created", "-id"]
        indexes = [models.Index(fields=["status", "heartbeat_at"], name="training_job_stale_idx")]

    def __str__(self) -> str:
        return f"job {self.pk}: {self.model_name}"

    @property
    def planned_epochs(self) -> int:
        training = self.config["training"]
        return int(training["epochs"]) * int(training.get("ensemble", 1))     # an ensemble's members one by one

    @property
    def stopped_early(self) -> str:
        """"stopped early at epoch 7 of 8: dev accuracy has not improved for 4 epochs" for a job whose early
        stopping ended it before its planned epochs; "" otherwise (still running, or trained them all)."""
        return early_stop_reason(self.epochs, self.config) if self.status == self.Status.SUCCEEDED else ""


def early_stop_reason(epochs: list[dict[str, Any]], config: dict[str, Any]) -> str:
    """Why training ended before its planned epochs, from the epoch rows and the run config; "" when it did not.
    The loop stops once `patience` epochs in a row did not beat the best one (rnnservice/ml/training.py)."""
    training = config.get("training", {})
    planned, patience = training.get("epochs"), training.get("patience")
    if not epochs or planned is None or patience is None or epochs[-1]["epoch"] >= planned:
        return ""                            # trained every planned epoch (or a config from before patience)
    last = epochs[-1]["epoch"]
    best = max((row["epoch"] for row in epochs if row.get("is_best")), default=0)
    if last - best < patience:
        return ""
    metric = training.get("metric") or (tasks.get(config["task"]).metrics[0] if "task" in config else "score")
    return (f"stopped early at epoch {last} of {planned}: dev {metric} has not improved for {last - best} "
            f"epoch{'s' if last - best != 1 else ''}")
