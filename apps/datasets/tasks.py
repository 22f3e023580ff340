"""Celery tasks of the datasets app; each takes an id and calls one service. Queue: `default` (settings)."""
from __future__ import annotations

from celery import shared_task


def _validate_dataset_failure(self, exc, task_id, args, kwargs, einfo) -> None:
    from apps.datasets.services import dataset_fail

    dataset_fail(dataset_id=args[0], error=f"validation stopped unexpectedly: {type(exc).__name__}: {exc}")


# acks_late: a worker that dies mid-validation leaves the message to another one (on brokers that redeliver);
# running it twice is harmless, since dataset_validate writes only while the dataset is pending.
@shared_task(acks_late=True, on_failure=_validate_dataset_failure)
def validate_dataset(dataset_id: int) -> None:
    from apps.datasets.services import dataset_validate  # imported here: services import this module

    dataset_validate(dataset_id=dataset_id)
