"""Writes of the training app: launch a job, run it on a worker (claim, train, register, finish), cancel it,
and send again the jobs whose worker died or whose message was lost."""
from __future__ import annotations

import logging
import re
import shutil
import socket
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.db import DatabaseError, InterfaceError, OperationalError, connection, transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from apps.datasets.files import data_path, dataset_paths
from apps.datasets.models import Dataset
from apps.datasets.selectors import dataset_list
from apps.registry.models import MODEL_NAME_PATTERN, ModelVersion, RegisteredModel
from apps.registry.services import version_create
from apps.registry.store import (
    BUCKET_ERRORS,
    bucket_checkpoint_delete,
    bucket_checkpoint_download,
    bucket_checkpoint_upload,
    bucket_configured,
)
from apps.training import limits
from apps.training.models import TrainingJob
from apps.training.tasks import train_model as train_model_task
from rnnservice.errors import Conflict, ServiceError
from rnnservice.metrics import observe_job_finished
from rnnservice.ml.config import config_from_dict
from rnnservice.ml.errors import ConfigError, TrainingStopped
from rnnservice.ml.formats import Example, read_examples
from rnnservice.ml.pipeline import TrainResult, resolve_device, train
from rnnservice.ml.training import Epoch

logger = logging.getLogger(__name__)
Status = TrainingJob.Status
LOG_TAIL_LINES = 50
CHECKPOINTS = "checkpoints"       # MODELS_STORE/checkpoints/job-<id>; so no model may be named so
# What a database that cannot be reached raises (OperationalError: refused, dropped, timed out, SQLite locked;
# InterfaceError: a connection that was already closed), as against errors in a query, which are bugs.
UNREACHABLE = (OperationalError, InterfaceError)
T = TypeVar("T")


def checkpoint_dir(job: TrainingJob) -> Path:
    """Where a job's checkpoint lives between attempts: train() resumes from it when it exists."""
    return Path(settings.MODELS_STORE) / CHECKPOINTS / f"job-{job.pk}"


def _checkpoint_key(job: TrainingJob) -> str:
    return f"{CHECKPOINTS}/job-{job.pk}"          # in the artifact bucket, as under MODELS_STORE


def _checkpoint_fetch(job: TrainingJob) -> None:
    """With an artifact bucket, a later attempt takes the bucket's copy of the job's checkpoint, so that it resumes
    where the last one stopped on whichever machine it runs (each epoch's copy is uploaded as soon as it is
    written). With no bucket, no whole copy in it, or a bucket that cannot be read, the local checkpoint is used."""
    if not bucket_configured() or job.attempts == 1:        # a first attempt has nothing to resume
        return
    try:
        if bucket_checkpoint_download(_checkpoint_key(job), checkpoint_dir(job)):
            logger.info("training job %s: checkpoint taken from the artifact bucket", job.pk)
    except BUCKET_ERRORS as exc:
        logger.warning("training job %s: the checkpoint in the artifact bucket cannot be read (%s); the local "
                       "one is used if there is one", job.pk, exc)


def _checkpoint_push(job: TrainingJob) -> None:
    """After an epoch: the job's checkpoint to the artifact bucket (when there is one). A failed upload costs only
    the epochs since the last good one if the job must resume elsewhere: training goes on."""
    if not bucket_configured():
        return
    try:
        bucket_checkpoint_upload(checkpoint_dir(job), _checkpoint_key(job))
    except BUCKET_ERRORS as exc:
        logger.warning("training job %s: checkpoint not copied to the artifact bucket: %s", job.pk, exc)


def checkpoint_remove(job: TrainingJob) -> None:
    """A job finished for good: nothing will resume it. Its checkpoint goes, from the disk and the bucket."""
    shutil.rmtree(checkpoint_dir(job), ignore_errors=True)
    if bucket_configured():
        try:
            bucket_checkpoint_delete(_checkpoint_key(job))
        except BUCKET_ERRORS as exc:
            logger.warning("training job %s: its checkpoint stays in the artifact bucket: %s", job.pk, exc)


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
    _check_model_name(owner=owner, name=model_name, task=dataset.task)
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
    job = TrainingJob.objects.create(owner=owner, dataset=dataset, model_name=model_name, config=config.to_dict(),
                                     sent_at=None if queue else timezone.now())
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
        job.log_tail = _tail(job.log_tail, f"not sent to the training queue yet: the broker cannot be reached "
                                           f"({type(exc).__name__}); it is sent when the broker answers")
        TrainingJob.objects.filter(pk=job.pk, status=Status.QUEUED).update(log_tail=job.log_tail)
        return
    job.sent_at = timezone.now()
    TrainingJob.objects.filter(pk=job.pk).update(sent_at=job.sent_at)


def job_run(*, job_id: int, worker: str = "") -> TrainingJob | None:
    """Body of train_model: claim the job, train it (resuming from its checkpoint), register the version.

    Ends succeeded (linked to its version), cancelled (cancel_requested seen at an epoch's end) or failed
    (the error kept as "Type: message"); the checkpoint is then removed. Returns None and changes nothing
    when the claim fails (a duplicate message), or when another attempt took the job over meanwhile. A database
    that stays unreachable past TRAINING_STALE_SECONDS ends the attempt with the job left running and its
    checkpoint kept: the stale check sends it again once the database is back, and the next attempt resumes.
    """
    job = job_start(job_id=job_id, worker=worker or socket.gethostname())
    if job is None:
        return None
    progress = _Progress(job)
    try:
        with _heartbeat(job):
            result = _train(job, on_epoch=progress)
            _seal(job, progress)
            version = _register(job, result, progress)
    except _Superseded as exc:
        logger.warning("training job %s: attempt %s stops: %s", job.pk, job.attempts, exc)
        return None
    except (_DatabaseLost, *UNREACHABLE) as exc:
        logger.error("training job %s: attempt %s stops, the database cannot be reached: %s; the stale check "
                     "sends it again once it is back", job.pk, job.attempts, exc)
        return None
    except TrainingStopped:
        if not _finish(job, Status.CANCELLED, progress.line(f"cancelled after epoch {progress.last_epoch}"),
                       epochs=progress.epochs):
            return None
    except Exception as exc:
        error = _public(_out_of_memory(job, exc) if limits.is_out_of_memory(exc) else f"{type(exc).__name__}: {exc}")
        logger.exception("training job %s failed", job.pk)
        if not _finish(job, Status.FAILED, progress.line(f"failed: {error}"), error=error, epochs=progress.epochs):
            return None
    else:
        logger.info("training job %s succeeded: %s version %s", job.pk, job.model_name, version.number)
    checkpoint_remove(job)                                       # finished for good: nothing will resume it
    return TrainingJob.objects.select_related("version__model").get(pk=job.pk)


def job_start(*, job_id: int, worker: str) -> TrainingJob | None:
    """Claim a job for `worker`: queued, or running with a heartbeat older than TRAINING_STALE_SECONDS (its
    worker died), becomes running with attempts + 1. Returns None for a job that is gone, finished, alive
    on another worker or out of attempts, or claimed by another delivery meanwhile, so that a message
    delivered twice does nothing; a job whose cancel was asked before it started is marked cancelled instead.
    """
    # The claim is one conditional UPDATE of the row as read (status, attempt, sent_at, heartbeat, cancel), so that
    # of two deliveries of the same job (a message sent again while the first was still on its way, two workers
    # given a stale job) exactly one changes it. No row lock is held while deciding. An UPDATE that matched
    # nothing means the row changed since it was read: read it again and decide again (another delivery claimed
    # it: let it be; the stale check, whose message may arrive before its commit, made it queued: claim it).
    for _ in range(3):
        now = timezone.now()
        job = TrainingJob.objects.filter(pk=job_id).first()
        if job is None or not (job.status == Status.QUEUED or _is_stale(job, now)):
            return None
        as_read = TrainingJob.objects.filter(pk=job.pk, status=job.status, attempts=job.attempts, sent_at=job.sent_at,
                                             heartbeat_at=job.heartbeat_at, cancel_requested=job.cancel_requested)
        if job.cancel_requested:              # asked while its last worker was dying: nothing left to stop
            if as_read.update(status=Status.CANCELLED, finished=now,
                              log_tail=_tail(job.log_tail, "cancelled: its worker stopped")):
                checkpoint_remove(job)
                observe_job_finished(status=Status.CANCELLED, started=job.started)
                return None
            continue
        attempt, started = job.attempts + 1, job.started or now
        resume = " from its last checkpoint" if attempt > 1 else ""
        log_tail = _tail(job.log_tail, f"attempt {attempt} started{resume} on {worker}")
        if as_read.update(status=Status.RUNNING, attempts=attempt, worker=worker, heartbeat_at=now,
                          started=started, log_tail=log_tail):
            job.status, job.attempts, job.worker, job.heartbeat_at = Status.RUNNING, attempt, worker, now
            job.started, job.log_tail = started, log_tail
            logger.info("training job %s: attempt %s started on %s", job.pk, job.attempts, worker)
            return job
    return None


def job_cancel(*, job: TrainingJob) -> TrainingJob:
    """Cancel a job: a queued one at once (a message still on its way then does nothing), a running one at
    the end of its current epoch, or at the end of training (cancel_requested). Raises ServiceError for a job
    that has finished, and Conflict (409) for one that has finished training and is saving its version."""
    with transaction.atomic():
        locked = TrainingJob.objects.select_for_update().get(pk=job.pk)
        if locked.status not in TrainingJob.ACTIVE:
            raise ServiceError(f"job {locked.pk} has finished ({locked.status}); only a queued or running job can "
                               "be cancelled", field="status")
        if locked.status == Status.RUNNING and locked.progress >= 1.0:
            raise Conflict(f"job {locked.pk} has finished training and is saving its version: too late to cancel",
                           field="status")
        locked.cancel_requested = True
        if locked.status == Status.QUEUED:
            locked.status, locked.finished = Status.CANCELLED, timezone.now()
            locked.log_tail = _tail(locked.log_tail, "cancelled while queued")
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


def job_fail(*, job_id: int, error: str) -> None:
    """Mark a still queued or running job failed, keeping `error`: train_model's on_failure, for an error
    that job_run could not record itself (the database was unreachable, say)."""
    rows = TrainingJob.objects.filter(pk=job_id, status__in=TrainingJob.ACTIVE)
    started = rows.values_list("started", flat=True).first()
    if rows.update(status=Status.FAILED, error=_public(error), finished=timezone.now()):
        observe_job_finished(status=Status.FAILED, started=started)


def jobs_requeue_stale(*, older_than: timedelta | None = None, restarted_worker: str = "") -> list[int]:
    """Send train_model again for each running job whose heartbeat is older than `older_than` (default
    TRAINING_STALE_SECONDS): its worker died, and neither broker brings the message back in time (the
    file-system transport dropped it when it was taken; Redis waits for its visibility timeout). The job
    goes back to queued and the next worker resumes it from its checkpoint. A job that already had
    TRAINING_MAX_ATTEMPTS attempts is failed instead, one whose cancel was asked is cancelled.

    `restarted_worker` names a worker that is starting, so runs nothing yet: the jobs recorded as running on
    it are dead whatever their heartbeat says. Returns the ids of the jobs sent again.
    """
    cutoff = timezone.now() - (older_than if older_than is not None else _stale_after())
    silent = Q(heartbeat_at__lt=cutoff) | Q(heartbeat_at__isnull=True)
    if restarted_worker:
        silent |= Q(worker=restarted_worker)
    stale = Q(status=Status.RUNNING) & silent
    sent = []
    for job_id in TrainingJob.objects.filter(stale).values_list("pk", flat=True):
        try:
            with transaction.atomic():
                job = TrainingJob.objects.select_for_update().filter(stale, pk=job_id).first()
                if job is not None and _requeue(job, restarted=job.worker == restarted_worker):
                    sent.append(job.pk)
        except Exception:       # a broker or database hiccup: the job stays stale and the next pass tries again
            logger.exception("training job %s could not be sent again", job_id)
    return sent


def _requeue(job: TrainingJob, *, restarted: bool) -> bool:
    """Within the caller's transaction, with `job` locked: cancel, fail or send it again."""
    worker = job.worker or "its worker"
    if restarted:
        why = f"{worker} started again without it"
    elif job.heartbeat_at is None:
        why = f"no heartbeat from {worker}"
    else:
        why = f"no heartbeat since {job.heartbeat_at:%Y-%m-%d %H:%M:%S} UTC from {worker}"
    if job.cancel_requested:
        _finish(job, Status.CANCELLED, _tail(job.log_tail, f"cancelled: {why}"), check=False)
    elif job.attempts >= settings.TRAINING_MAX_ATTEMPTS:
        error = f"WorkerLost: {why}; gave up after {job.attempts} attempts (TRAINING_MAX_ATTEMPTS)"
        _finish(job, Status.FAILED, _tail(job.log_tail, f"failed: {error}"), error=error, check=False)
    else:
        # Sent before the commit: if the broker refuses, the transaction rolls back and the job stays stale for
        # the next pass. A worker that gets the message first has its claim wait for this lock, match nothing
        # (the row is no longer the one it read), read it again and find the job queued (job_start).
        train_model_task.delay(job.pk)
        job.status, job.sent_at = Status.QUEUED, timezone.now()
        job.log_tail = _tail(job.log_tail, f"sent to the queue again: {why}")
        job.save(update_fields=["status", "sent_at", "log_tail"])
        logger.warning("training job %s sent to the queue again: %s", job.pk, why)
        return True
    transaction.on_commit(lambda: checkpoint_remove(job))
    return False


def jobs_resend_unclaimed(*, older_than: timedelta | None = None) -> list[int]:
    """Send train_model again for each queued job that no worker took within `older_than` (default
    TRAINING_QUEUED_RESEND_SECONDS) of its last sending, and at once for one never sent (the broker was down at
    launch). Its message may be gone: a broker restarted without persistence loses what it held, and a message
    taken by a worker that could not reach the database was used up. A job merely waiting behind others gets a
    duplicate, which does nothing: the first delivery claims the job (job_start), the others find it taken.
    Returns the ids sent; a job the broker refuses stays as it was, for the next pass.
    """
    resend_after = older_than if older_than is not None else timedelta(
        seconds=settings.TRAINING_QUEUED_RESEND_SECONDS)
    unclaimed = Q(status=Status.QUEUED) & (Q(sent_at__isnull=True) | Q(sent_at__lt=timezone.now() - resend_after))
    sent = []
    for job_id in TrainingJob.objects.filter(unclaimed).values_list("pk", flat=True):
        try:
            with transaction.atomic():
                job = TrainingJob.objects.select_for_update().filter(unclaimed, pk=job_id).first()
                if job is None:                # claimed, cancelled or sent by another pass meanwhile
                    continue
                why = "never sent" if job.sent_at is None else f"not taken since {job.sent_at:%Y-%m-%d %H:%M:%S} UTC"
                # Sent before the commit, as _requeue does: a refused send rolls back and the next pass tries again;
                # a worker given the message at once finds its claim waiting for this lock, then reads the job again.
                train_model_task.delay(job.pk)
                job.sent_at, job.log_tail = timezone.now(), _tail(job.log_tail, f"sent to the queue again: {why}")
                job.save(update_fields=["sent_at", "log_tail"])
        except Exception:
            logger.exception("training job %s could not be sent again", job_id)
            continue
        logger.warning("training job %s sent to the queue again: %s", job_id, why)
        sent.append(job_id)
    return sent


class _Superseded(Exception):
    """This attempt no longer owns the job: another attempt claimed it, or it was finished elsewhere."""


class _Progress:
    """The on_epoch hook of one attempt: one UPDATE (progress, epochs, log tail, heartbeat), then the cancel
    check, at most every TRAINING_PROGRESS_SECONDS: epochs of a small data set can take a fraction of a second,
    and the epochs in between are written with the next update. Never per step: a row write per batch would
    slow training and flood the database."""

    def __init__(self, job: TrainingJob):
        self.job_id, self.attempt, self.planned = job.pk, job.attempts, job.planned_epochs
        self.epochs: list[dict[str, Any]] = list(job.epochs)
        self.log = job.log_tail
        self.last_epoch = max((row["epoch"] for row in self.epochs), default=0)
        self.written = float("-inf")             # time.monotonic() of the last UPDATE

    def __call__(self, epoch: Epoch) -> None:
        # A resumed attempt may repeat the epoch its predecessor died in: the later row replaces the earlier.
        self.epochs = [row for row in self.epochs if row["epoch"] < epoch.epoch]
        self.epochs.append({**epoch.to_dict(), "attempt": self.attempt})
        self.last_epoch = epoch.epoch
        line = _epoch_line(epoch, self.planned)
        logger.info("training job %s: %s", self.job_id, line)
        self.line(line)
        if time.monotonic() - self.written < settings.TRAINING_PROGRESS_SECONDS:
            return
        self.written = time.monotonic()

        def write() -> tuple[int, bool]:
            updated = self.rows().update(progress=min(1.0, epoch.epoch / self.planned), epochs=self.epochs,
                                         log_tail=self.log, heartbeat_at=timezone.now())
            return updated, TrainingJob.objects.filter(pk=self.job_id, cancel_requested=True).exists()

        updated, cancel = _retrying(write, what=f"epoch {epoch.epoch}'s row", job_id=self.job_id)
        if not updated:
            raise _Superseded(f"the job is no longer running attempt {self.attempt}")
        if cancel:
            raise TrainingStopped("cancel requested")

    def rows(self) -> QuerySet[TrainingJob]:
        """The job's row while it is still this attempt's."""
        return TrainingJob.objects.filter(pk=self.job_id, status=Status.RUNNING, attempts=self.attempt)

    def line(self, text: str) -> str:
        """The log tail with `text` added (kept in memory: the row's copy is written with the next update)."""
        self.log = _tail(self.log, text)
        return self.log

    def history(self, result: TrainResult) -> list[dict[str, Any]]:
        """Every epoch of the run: the rows recorded, and any the checkpoint had that were never reported (a
        worker killed between writing a checkpoint and its row), with attempt None."""
        recorded = {row["epoch"]: row for row in self.epochs}
        return [recorded.get(epoch.epoch, {**epoch.to_dict(), "attempt": None}) for epoch in result.fit.history]


def _train(job: TrainingJob, *, on_epoch: _Progress) -> TrainResult:
    config = config_from_dict(job.config)
    device = resolve_device(settings.RNNSERVICE_DEVICE)
    if not _retrying(lambda: on_epoch.rows().update(device=str(device)), what="the device", job_id=job.pk):
        raise _Superseded(f"the job is no longer running attempt {on_epoch.attempt}")
    train_examples, dev_examples = _examples(job.dataset)
    _checkpoint_fetch(job)

    def after_epoch(epoch: Epoch) -> None:
        on_epoch(epoch)                        # raises when the attempt must stop: then nothing is uploaded
        _checkpoint_push(job)

    return train(config, train_examples, dev_examples, device=device, checkpoint_dir=checkpoint_dir(job),
                 on_epoch=after_epoch)


def _examples(dataset: Dataset) -> tuple[list[Example], list[Example] | None]:
    """The train and dev examples of the dataset's stored files, read in the dataset's format."""
    with dataset_paths(dataset) as files:

        def read(split: str) -> list[Example]:
            return read_examples(data_path(files, split), task=dataset.task, format=dataset.format)

        return read("train"), read("dev") if "dev" in files else None


def _seal(job: TrainingJob, progress: _Progress) -> None:
    """Training is over: the row says so (progress 1.0, every epoch) unless a cancel was asked first, which then
    ends the job cancelled (TrainingStopped). One conditional UPDATE decides, against job_cancel's lock: a cancel
    that came before it wins, one after it is told it is too late; a cancel is never accepted and then ignored."""
    def write() -> int:
        return progress.rows().filter(cancel_requested=False).update(
            progress=1.0, epochs=progress.epochs, log_tail=progress.log, heartbeat_at=timezone.now())

    if _retrying(write, what="the end of training", job_id=job.pk):
        return
    if progress.rows().exists():                  # still this attempt's: its cancel was asked
        raise TrainingStopped("cancel requested")
    raise _Superseded(f"the job is no longer running attempt {progress.attempt}")


def _register(job: TrainingJob, result: TrainResult, progress: _Progress) -> ModelVersion:
    """Save the trained model and add it to the registry: exactly once per job, by the attempt that owns it."""
    root = checkpoint_dir(job).parent
    root.mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(prefix=f"job-{job.pk}-", suffix=".version", dir=root))  # the store's disk
    try:
        result.save(folder)
        # Tried again while the database cannot be reached: a failed transaction gives the folder back
        # (version_create moves it home), so the next try registers the same files.
        return _retrying(lambda: _register_saved(job, folder, result, progress), what="registering the version",
                         job_id=job.pk)
    finally:
        shutil.rmtree(folder, ignore_errors=True)      # moved into the store by version_create, unless it failed


def _register_saved(job: TrainingJob, folder: Path, result: TrainResult, progress: _Progress) -> ModelVersion:
    with transaction.atomic():
        locked = TrainingJob.objects.select_for_update().get(pk=job.pk)
        if locked.version_id is not None or locked.status != Status.RUNNING or locked.attempts != job.attempts:
            raise _Superseded("another attempt has registered the version or finished the job")
        locked.version = version_create(owner=job.owner, model_name=job.model_name, task=job.dataset.task,
                                        source_dir=folder, dataset=job.dataset, metrics=result.metrics)
        locked.status, locked.progress, locked.finished = Status.SUCCEEDED, 1.0, timezone.now()
        locked.epochs, locked.heartbeat_at = progress.history(result), locked.finished
        locked.log_tail = _tail(progress.log, f"succeeded: {job.model_name} version {locked.version.number}")
        locked.save(update_fields=["version", "status", "progress", "finished", "epochs", "heartbeat_at",
                                   "log_tail"])
        transaction.on_commit(lambda: observe_job_finished(status=Status.SUCCEEDED, started=locked.started))
    progress.log = locked.log_tail
    return locked.version


def _finish(job: TrainingJob, status: str, log_tail: str, *, error: str = "", check: bool = True,
            epochs: list[dict[str, Any]] | None = None) -> bool:
    """Mark the job cancelled or failed; with `check`, only while it is still running this attempt. `epochs`:
    the attempt's epoch rows, some perhaps not written yet (TRAINING_PROGRESS_SECONDS). Returns whether it did."""
    rows = TrainingJob.objects.filter(pk=job.pk)
    if check:
        rows = rows.filter(status=Status.RUNNING, attempts=job.attempts)
    written = {"epochs": epochs} if epochs is not None else {}
    finished = bool(rows.update(status=status, error=error, log_tail=log_tail, finished=timezone.now(), **written))
    if finished:
        transaction.on_commit(lambda: observe_job_finished(status=status, started=job.started))
    return finished


@contextmanager
def _heartbeat(job: TrainingJob) -> Iterator[None]:
    """Write heartbeat_at every TRAINING_HEARTBEAT_SECONDS from a thread while the job runs: an epoch may
    take far longer than TRAINING_STALE_SECONDS, and a silent job is taken for one whose worker died."""
    stop = threading.Event()

    def beat() -> None:
        try:
            while not stop.wait(settings.TRAINING_HEARTBEAT_SECONDS):
                try:
                    mine = TrainingJob.objects.filter(pk=job.pk, status=Status.RUNNING, attempts=job.attempts)
                    if not mine.update(heartbeat_at=timezone.now()):
                        return                         # finished, cancelled or taken over: nothing to keep alive
                except DatabaseError:
                    logger.warning("training job %s: heartbeat not written", job.pk, exc_info=True)
                    _drop_connection()                 # a broken one is never reused: the next beat opens another
        finally:
            connection.close()                         # this thread's own connection

    thread = threading.Thread(target=beat, name=f"heartbeat-job-{job.pk}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


class _DatabaseLost(Exception):
    """The database stayed unreachable for longer than _retrying waits."""


def _retrying(write: Callable[[], T], *, what: str, job_id: int) -> T:
    """`write()`, tried again while the database cannot be reached, for up to TRAINING_STALE_SECONDS: a short
    outage must not cost a job that trains fine. Longer, its heartbeat has been silent long enough for the stale
    check to send it again anyway, so this raises _DatabaseLost and job_run leaves the job to that check.
    Inside a transaction (the caller's), the error is raised at once: only the caller can start it again."""
    deadline, pause = time.monotonic() + settings.TRAINING_STALE_SECONDS, 0.5
    while True:
        try:
            return write()
        except UNREACHABLE as exc:
            if connection.in_atomic_block:
                raise
            _drop_connection()           # Django never reconnects a broken connection itself: the next try opens one
            if time.monotonic() + pause > deadline:
                raise _DatabaseLost(f"{what}: {type(exc).__name__}: {exc}") from exc
            logger.warning("training job %s: %s not written, trying again in %.1f s: %s", job_id, what, pause, exc)
            time.sleep(pause)
            pause = min(2 * pause, 5.0)


def _drop_connection() -> None:
    """Close this thread's database connection after an error, whatever state it is in."""
    try:
        connection.close()
    except DatabaseError:
        pass


def _out_of_memory(job: TrainingJob, exc: Exception) -> str:
    """The reason a job that ran out of memory failed, with what the launch estimated; it is not tried again: the
    next worker would run out of memory the same way."""
    cost = limits.run_estimate(config_from_dict(job.config), job.dataset)
    estimate = (f"the launch estimated {cost.parameters:,} parameters and {cost.memory_bytes:,} bytes a step "
                f"(TRAINING_MAX_MEMORY_BYTES is {settings.TRAINING_MAX_MEMORY_BYTES:,})")
    return (f"OutOfMemory: {exc}; {estimate}; lower the batch size, max_length or the model's sizes, or give the "
            "worker more memory")


def _check_model_name(*, owner: AbstractBaseUser, name: str, task: str) -> None:
    """What version_create would refuse at the end of the run, refused before it starts."""
    if not re.fullmatch(MODEL_NAME_PATTERN, name) or name.lower() == CHECKPOINTS:
        raise ServiceError(f"model name {name!r} is not valid: use up to 100 letters, digits, hyphens and "
                           f"underscores, starting with a letter or a digit (and not {CHECKPOINTS!r})",
                           field="model_name")
    model = RegisteredModel.objects.filter(name__iexact=name).first()
    if model is None:
        return
    if model.owner_id != owner.pk:      # model names are global: say the name is taken, not by whom
        raise ServiceError(f"the model name {name!r} is taken; choose another", field="model_name")
    if model.name != name:
        raise ServiceError(f"you have a model named {model.name!r}; model names are unique regardless of case",
                           field="model_name")
    if model.task != task:
        raise ServiceError(f"model {name!r} is a {model.task} model; the dataset holds {task} data",
                           field="model_name")


def _is_stale(job: TrainingJob, now: datetime) -> bool:
    """Running, silent for longer than TRAINING_STALE_SECONDS, and not out of attempts."""
    silent = job.heartbeat_at is None or job.heartbeat_at < now - _stale_after()
    return job.status == Status.RUNNING and silent and job.attempts < settings.TRAINING_MAX_ATTEMPTS


def _stale_after() -> timedelta:
    return timedelta(seconds=settings.TRAINING_STALE_SECONDS)


def _epoch_line(epoch: Epoch, planned: int) -> str:
    dev = ", ".join(f"dev_{name} {value:.4f}" for name, value in epoch.dev.items())
    best = " (best)" if epoch.is_best else ""
    return (f"epoch {epoch.epoch}/{planned}: train_loss {epoch.train_loss:.4f}, {dev}{best}; "
            f"{epoch.tokens_per_s:,.0f} tokens/s, {epoch.seconds:.1f} s")


def _tail(log: str, line: str) -> str:
    stamped = f"{timezone.now():%Y-%m-%d %H:%M:%S} {line}"
    return "\n".join([*log.splitlines(), stamped][-LOG_TAIL_LINES:])


def _public(message: str) -> str:
    """An error without the server's folders: users see where in *their* data, not where on our disks."""
    for root in sorted({str(settings.MEDIA_ROOT), str(settings.MODELS_STORE)}, key=len, reverse=True):
        message = message.replace(root.rstrip("/") + "/", "")
    return message
