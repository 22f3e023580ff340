"""A training job's curves for its admin page (rnnservice/curves.py's series, with the job's status), and the last
epoch's metrics for the job list."""
from __future__ import annotations

from typing import Any

from apps.training.models import TrainingJob
from rnnservice.curves import LAST, curve_names, epoch_series


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
