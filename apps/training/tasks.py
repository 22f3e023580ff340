"""Celery tasks of the training app; each takes an id (or nothing) and calls one service.

train_model runs on the `training` queue (CELERY_TASK_ROUTES), requeue_stale_jobs on `default`, every
TRAINING_STALE_SECONDS from celery beat (CELERY_BEAT_SCHEDULE) and once whenever a worker starts.
"""
from __future__ import annotations

from typing import Any

from celery import shared_task
from celery.signals import worker_ready
from django.db import connections


def _train_model_failure(self, exc, task_id, args, kwargs, einfo) -> None:
    from apps.training.services import job_fail

    job_fail(job_id=kwargs.get("job_id", args[0] if args else None), error=f"{type(exc).__name__}: {exc}")


# acks_late + reject_on_worker_lost: a message is acknowledged only once the job is done, and given back when
# the pool process running it dies. That alone does not bring a job back on every broker (the file-system
# transport drops a message when a worker takes it; Redis redelivers only after its visibility timeout), so a
# running job also writes a heartbeat and requeue_stale_jobs sends the silent ones again.
@shared_task(bind=True, acks_late=True, reject_on_worker_lost=True, on_failure=_train_model_failure)
def train_model(self, job_id: int) -> None:
    from apps.training.services import job_run  # imported here: services import this module

    job_run(job_id=job_id, worker=self.request.hostname or "")


@shared_task
def requeue_stale_jobs() -> None:
    from apps.training.services import jobs_requeue_stale

    jobs_requeue_stale()


@worker_ready.connect
def requeue_stale_jobs_at_worker_start(sender: Any = None, **kwargs: Any) -> None:
    """A worker that starts sends the silent jobs again without waiting for beat, and at once the jobs still
    recorded as running on itself (by its node name, which Celery needs unique): a worker that is starting
    runs nothing, so these died with its previous run. Runs in the worker's main process, before its first task.
    """
    from apps.training.services import jobs_requeue_stale

    try:
        jobs_requeue_stale(restarted_worker=getattr(sender, "hostname", None) or "")
    finally:
        connections.close_all()       # the pool's processes open their own
