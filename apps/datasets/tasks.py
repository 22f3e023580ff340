"""Celery tasks of the datasets app; each takes an id (or nothing) and calls one service. Queue: `default`
(settings). resend_pending_datasets runs every DATASET_PENDING_RESEND_SECONDS from celery beat."""
from __future__ import annotations

from typing import Any

from celery import shared_task
from celery.signals import worker_ready
from django.db import connections


def _validate_dataset_failure(self, exc, task_id, args, kwargs, einfo) -> None:
    from apps.datasets.services import dataset_fail

    dataset_fail(dataset_id=args[0], error=f"validation stopped unexpectedly: {type(exc).__name__}: {exc}")


# acks_late: a worker that dies mid-validation leaves the message to another one (on brokers that redeliver);
# running it twice is harmless, since dataset_validate writes only while the dataset is pending.
@shared_task(acks_late=True, on_failure=_validate_dataset_failure)
def validate_dataset(dataset_id: int) -> None:
    from apps.datasets.services import dataset_validate  # imported here: services import this module

    dataset_validate(dataset_id=dataset_id)


@shared_task
def resend_pending_datasets() -> None:
    """Validation sent again for the datasets whose message was lost (a broker restarted without persistence, or
    down at the upload)."""
    from apps.datasets.services import datasets_resend_pending

    datasets_resend_pending()


@worker_ready.connect
def resend_pending_datasets_at_worker_start(sender: Any = None, **kwargs: Any) -> None:
    """A worker that starts (after a broker restart, say) sends the lost validations without waiting for beat."""
    from apps.datasets.services import datasets_resend_pending

    try:
        datasets_resend_pending()
    finally:
        connections.close_all()       # the pool's processes open their own
