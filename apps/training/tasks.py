"""Celery tasks of the training app; each takes an id (or nothing) and calls one service.

train_model runs on the `training` queue (CELERY_TASK_ROUTES), requeue_stale_jobs on `default`, every
TRAINING_STALE_SECONDS from celery beat (CELERY_BEAT_SCHEDULE) and once whenever a worker starts: it sends again
the jobs whose worker died, and the jobs whose message was lost (a broker restarted without persistence, or down
when they were launched). Data sets have their own (apps/datasets/tasks.py).
"""
from __future__ import annotations

import logging
from typing import Any

from celery import shared_task
from celery.signals import worker_ready
from django.db import connections

logger = logging.getLogger(__name__)


def _train_model_failure(self, exc, task_id, args, kwargs, einfo) -> None:
    from apps.training.records import UNREACHABLE
    from apps.training.runs import job_fail

    if isinstance(exc, UNREACHABLE):
        # The database could not be reached, so nothing can be recorded now, and the job is not at fault: a queued
        # one is sent again after TRAINING_QUEUED_RESEND_SECONDS, a running one once its heartbeat is stale.
        logger.warning("train_model%s: the database cannot be reached (%s); the job is left to the stale check",
                       tuple(args), exc)
        return
    job_fail(job_id=kwargs.get("job_id", args[0] if args else None), error=f"{type(exc).__name__}: {exc}")


# acks_late + reject_on_worker_lost: a message is acknowledged only once the job is done, and given back when
# the pool process running it dies. That alone does not bring a job back on every broker (the file-system
# transport drops a message when a worker takes it; Redis redelivers only after its visibility timeout), so a
# running job also writes a heartbeat and requeue_stale_jobs sends the silent ones again.
@shared_task(bind=True, acks_late=True, reject_on_worker_lost=True, on_failure=_train_model_failure)
def train_model(self, job_id: int) -> None:
    from apps.training.runs import job_run  # imported here: runs imports this module (through recovery)

    job_run(job_id=job_id, worker=self.request.hostname or "")


@shared_task
def requeue_stale_jobs() -> None:
    _resend_lost()


def _resend_lost(restarted_worker: str = "") -> None:
    from apps.training.recovery import jobs_requeue_stale, jobs_resend_unclaimed

    jobs_requeue_stale(restarted_worker=restarted_worker)
    jobs_resend_unclaimed()


@worker_ready.connect
def requeue_stale_jobs_at_worker_start(sender: Any = None, **kwargs: Any) -> None:
    """A worker that starts sends the silent jobs again without waiting for beat, and at once the jobs still
    recorded as running on itself (by its node name, which Celery needs unique): a worker that is starting
    runs nothing, so these died with its previous run. Runs in the worker's main process, before its first task.
    """
    try:
        _resend_lost(restarted_worker=getattr(sender, "hostname", None) or "")
    finally:
        connections.close_all()       # the pool's processes open their own
