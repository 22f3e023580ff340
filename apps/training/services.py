"""Writes of the training app that users ask for: launch a job, cancel it, delete it."""
from __future__ import annotations

import logging

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

from apps.datasets.models import Dataset
from apps.datasets.selectors import dataset_list
from apps.registry.services import model_name_check
from apps.training import limits
from apps.training.checkpoints import checkpoint_remove
from apps.training.models import TrainingJob
from apps.training.notices import dev_split_warnings
from apps.training.records import log_add
from apps.training.tasks import train_model as train_model_task
from rnnservice.errors import Conflict, ServiceError
from rnnservice.ml.config import config_from_dict
from rnnservice.ml.errors import ConfigError
from rnnservice.prometheus import observe_job_finished

logger = logging.getLogger(__name__)
Status = TrainingJob.Status


DATASET_DATA_FIELDS = ("format", "input", "options")      # fields of the data section that are the dataset's


@transaction.atomic
def job_launch(*, owner: AbstractBaseUser, dataset: Dataset, model_name: str, tokenizer: dict | None = None,
               architecture: dict | None = None, training: dict | None = None, data: dict | None = None,
               queue: bool = True) -> TrainingJob:
    """Create a queued job and send train_model to the `training` queue once the row is committed.

    Raises ServiceError naming the field: a dataset the owner cannot see or that is not valid, a model name
    that is malformed or taken by another user or task, a config value the core refuses ("training.epochs"), a
    metric the data cannot give; LimitExceeded for a model or a step's memory over the limits, or one job more
    than the owner may have queued or running (apps/training/limits.py).
    With queue=False nothing is sent: the caller runs job_run itself (`manage.py train --sync`). `data` sets the
    data section's other fields (forecasting's lookback, horizon and targets; the dev split); its format, input
    kind and format options are the dataset's, which validation read the files with.
    """
    # Locked until the commit, as dataset_delete locks it: a delete at the same moment waits for this job and
    # refuses, or this launch finds the dataset gone (a 409, not the 500 of a job pointing at a deleted row).
    if not Dataset.objects.select_for_update().filter(pk=dataset.pk).exists():
        raise Conflict(f"dataset {dataset.pk} was deleted while the job was being launched", field="dataset")
    if not dataset_list(user=owner).filter(pk=dataset.pk).exists():
        raise ServiceError(f"no dataset with id {dataset.pk}", field="dataset")
    if dataset.status != Dataset.Status.VALID:
        raise ServiceError(f"dataset {dataset.name!r} is {dataset.status}; only a valid dataset can be trained on",
                           field="dataset")
    model_name_check(owner=owner, name=model_name, task=dataset.task, task_field="model_name")
    for key in DATASET_DATA_FIELDS:
        if key in (data or {}):
            raise ServiceError(f"data.{key} is the dataset's, as its validation read the files; it cannot be set",
                               field=f"data.{key}")
    sections = {"tokenizer": tokenizer or {}, "architecture": architecture or {}, "training": training or {},
                "data": {**(data or {}), "format": dataset.format}}
    try:
        # The input kind validation found (text or numeric series) picks the defaults the sections go over.
        config = config_from_dict(sections, task=dataset.task, input=dataset.input or None)
    except ConfigError as exc:
        raise ServiceError(str(exc), field=exc.field) from exc
    limits.check_metric(config, dataset)
    limits.check_windows(config, dataset)
    limits.check_budget(config, dataset)
    # The owner's row, locked until the commit: two launches at once count each other's job.
    get_user_model().objects.select_for_update().filter(pk=owner.pk).first()
    limits.check_active_jobs(owner)
    # queue=False: the caller claims it at once; sent_at keeps the stale check from sending it meanwhile.
    warnings = dev_split_warnings(config, dataset)
    log = ""
    for warning in warnings:
        log = log_add(log, f"warning: {warning}")
    job = TrainingJob.objects.create(owner=owner, dataset=dataset, model_name=model_name, config=config.to_dict(),
                                     sent_at=None if queue else timezone.now(), warnings=warnings, log_tail=log)
    if queue:
        # After the commit, or the worker could look for a row that is not there yet.
        transaction.on_commit(lambda: _send(job), robust=True)
    return job


def _send(job: TrainingJob) -> None:
    """Send train_model for a committed, queued job and record when. A broker that cannot be reached does not
    turn the launch into an error: the job is saved, and stays queued with no sent_at, which the next stale
    check (jobs_resend_unclaimed) sends once the broker answers. The launch answers 201 with the job, whose log
    tail says so: a 5xx would make clients launch again, and train the same thing twice."""
    try:
        train_model_task.delay(job.pk)
    except Exception as exc:
        logger.warning("training job %s not sent: the broker cannot be reached: %s", job.pk, exc)
        job.log_tail = log_add(job.log_tail, f"not sent to the training queue yet: the broker cannot be reached "
                                           f"({type(exc).__name__}); it is sent when the broker answers")
        TrainingJob.objects.filter(pk=job.pk, status=Status.QUEUED).update(log_tail=job.log_tail)
        return
    job.sent_at = timezone.now()
    TrainingJob.objects.filter(pk=job.pk).update(sent_at=job.sent_at)


def job_cancel(*, job: TrainingJob) -> TrainingJob:
    """Cancel a job: a queued one at once (a message still on its way then does nothing), a running one at
    the end of its current epoch, or at the end of training (cancel_requested). Raises Conflict (409) for a job
    that has finished, or that has finished training and is saving its version."""
    with transaction.atomic():
        locked = TrainingJob.objects.select_for_update().get(pk=job.pk)
        if locked.status not in TrainingJob.ACTIVE:
            # A 409, as for one saving its version: the request is well-formed, the job's state refuses it.
            raise Conflict(f"job {locked.pk} has finished ({locked.status}); only a queued or running job can be "
                           "cancelled", field="status")
        if locked.status == Status.RUNNING and locked.progress >= 1.0:
            raise Conflict(f"job {locked.pk} has finished training and is saving its version: too late to cancel",
                           field="status")
        locked.cancel_requested = True
        if locked.status == Status.QUEUED:
            locked.status, locked.finished = Status.CANCELLED, timezone.now()
            locked.log_tail = log_add(locked.log_tail, "cancelled while queued")
            # A job sent back to the queue after its worker died still has a checkpoint.
            transaction.on_commit(lambda: checkpoint_remove(locked))
            transaction.on_commit(lambda: observe_job_finished(status=Status.CANCELLED, started=locked.started))
        locked.save(update_fields=["cancel_requested", "status", "finished", "log_tail"])
    return locked


def job_delete(*, job: TrainingJob) -> None:
    """Delete a finished job's row; the version it produced stays in the registry. Raises ServiceError for a
    queued or running job: cancel it first, or its worker would train for nothing."""
    with transaction.atomic():
        locked = TrainingJob.objects.select_for_update().filter(pk=job.pk).first()
        if locked is not None and locked.status in TrainingJob.ACTIVE:
            raise ServiceError(f"job {locked.pk} is {locked.status}; cancel it before deleting it", field="status")
        if locked is not None:
            locked.delete()
