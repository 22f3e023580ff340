"""A training job's curves, as the admin's charts draw them: per epoch the train loss, each dev metric and the
learning rate (rnnservice/static/rnnservice/charts.js builds the same shape from the API's answer while polling)."""
from __future__ import annotations

from typing import Any

from apps.training.models import TrainingJob

FIRST, LAST = ("train_loss",), ("lr",)


def curve_names(rows: list[dict[str, Any]]) -> list[str]:
    """The series the rows have, train loss first, then the dev metrics by name, then the learning rate."""
    keys = {key for row in rows for key in row}
    dev = sorted(key for key in keys if key.startswith("dev_"))
    return [key for key in FIRST if key in keys] + dev + [key for key in LAST if key in keys]


def epoch_series(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """{"epochs": [1, 2, ...], "series": {"train_loss": [...], "dev_accuracy": [...], "lr": [...]}}."""
    rows = sorted(rows, key=lambda row: row["epoch"])
    return {"epochs": [row["epoch"] for row in rows],
            "series": {name: [row.get(name) for row in rows] for name in curve_names(rows)}}


def stopped_early_at(job: TrainingJob) -> int | None:
    """The last epoch of a job that succeeded before its planned epochs: early stopping ended it."""
    if job.status != TrainingJob.Status.SUCCEEDED or not job.epochs:
        return None
    last = max(row["epoch"] for row in job.epochs)
    return last if last < job.planned_epochs else None


def job_curves(job: TrainingJob) -> dict[str, Any]:
    """What the job page's charts draw, and the page carries as JSON (`<script id="curves">`)."""
    return {"job": job.pk, "status": job.status, "progress": job.progress, "planned_epochs": job.planned_epochs,
            "stopped_early_at": stopped_early_at(job), **epoch_series(job.epochs)}


def latest_metrics(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The last epoch's train loss and dev metrics: what the job list shows as columns."""
    if not rows:
        return {}
    last = max(rows, key=lambda row: row["epoch"])
    return {name: last[name] for name in curve_names([last]) if name not in LAST}
