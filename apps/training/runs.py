"""The worker's run of a training job (train_model's body): claim it, train it with a heartbeat and progress rows,
register the version it made, and record how it ended."""
from __future__ import annotations

import logging
import shutil
import socket
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from django.conf import settings
from django.db import DatabaseError, connection, transaction
from django.db.models import QuerySet
from django.utils import timezone

from apps.datasets.files import data_path, dataset_paths
from apps.datasets.models import Dataset
from apps.registry.models import ModelVersion
from apps.registry.selectors import version_alias_changes
from apps.registry.services import version_create
from apps.training import limits
from apps.training.checkpoints import checkpoint_dir, checkpoint_fetch, checkpoint_push, checkpoint_remove
from apps.training.models import TrainingJob, early_stop_reason
from apps.training.oom import oom_killed, oom_watch
from apps.training.records import UNREACHABLE, job_finish, log_add, public_error
from apps.training.recovery import is_stale, oom_error
from rnnservice.display import significant
from rnnservice.ml.config import config_from_dict
from rnnservice.ml.errors import TrainingStopped
from rnnservice.ml.formats import Example, read_examples
from rnnservice.ml.pipeline import TrainResult, resolve_device, train
from rnnservice.ml.training import Epoch
from rnnservice.prometheus import observe_job_finished

logger = logging.getLogger(__name__)
Status = TrainingJob.Status
T = TypeVar("T")


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
        if not job_finish(job, Status.CANCELLED, progress.line(f"cancelled after epoch {progress.last_epoch}"),
                       epochs=progress.epochs):
            return None
    except Exception as exc:
        reason = _out_of_memory(job, exc) if limits.is_out_of_memory(exc) else f"{type(exc).__name__}: {exc}"
        error = public_error(reason)
        logger.exception("training job %s failed", job.pk)
        if not job_finish(job, Status.FAILED, progress.line(f"failed: {error}"), error=error, epochs=progress.epochs):
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
        if job is None or not (job.status == Status.QUEUED or is_stale(job, now)):
            return None
        as_read = TrainingJob.objects.filter(pk=job.pk, status=job.status, attempts=job.attempts, sent_at=job.sent_at,
                                             heartbeat_at=job.heartbeat_at, cancel_requested=job.cancel_requested)
        if killed := oom_killed(job):         # its last attempt died of memory here: the next would too
            error = oom_error(job, killed)
            if as_read.update(status=Status.FAILED, error=error, finished=now,
                              log_tail=log_add(job.log_tail, f"failed: {error}")):
                checkpoint_remove(job)
                observe_job_finished(status=Status.FAILED, started=job.started)
                return None
            continue
        if job.cancel_requested:              # asked while its last worker was dying: nothing left to stop
            if as_read.update(status=Status.CANCELLED, finished=now,
                              log_tail=log_add(job.log_tail, "cancelled: its worker stopped")):
                checkpoint_remove(job)
                observe_job_finished(status=Status.CANCELLED, started=job.started)
                return None
            continue
        attempt, started = job.attempts + 1, job.started or now
        resume = " from its last checkpoint" if attempt > 1 else ""
        log_tail = log_add(job.log_tail, f"attempt {attempt} started{resume} on {worker}")
        watch = oom_watch()
        if as_read.update(status=Status.RUNNING, attempts=attempt, worker=worker, heartbeat_at=now,
                          started=started, log_tail=log_tail, memory_watch=watch):
            job.status, job.attempts, job.worker, job.heartbeat_at = Status.RUNNING, attempt, worker, now
            job.started, job.log_tail, job.memory_watch = started, log_tail, watch
            logger.info("training job %s: attempt %s started on %s", job.pk, job.attempts, worker)
            return job
    return None


def job_fail(*, job_id: int, error: str) -> None:
    """Mark a still queued or running job failed, keeping `error`: train_model's on_failure, for an error
    that job_run could not record itself (the database was unreachable, say)."""
    rows = TrainingJob.objects.filter(pk=job_id, status__in=TrainingJob.ACTIVE)
    started = rows.values_list("started", flat=True).first()
    if rows.update(status=Status.FAILED, error=public_error(error), finished=timezone.now()):
        observe_job_finished(status=Status.FAILED, started=started)


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
        self.log = log_add(self.log, text)
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
    checkpoint_fetch(job)

    def after_epoch(epoch: Epoch) -> None:
        on_epoch(epoch)                        # raises when the attempt must stop: then nothing is uploaded
        checkpoint_push(job)

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
        log = progress.log
        if stopped := early_stop_reason(locked.epochs, locked.config):
            log = log_add(log, stopped)
        # A version that answers other labels than an alias's: said now, and moving the alias needs confirm.
        changes = version_alias_changes(version=locked.version)
        for warning in changes:
            log = log_add(log, f"warning: {warning}")
        locked.warnings = [*locked.warnings, *changes]
        locked.log_tail = log_add(log, f"succeeded: {job.model_name} version {locked.version.number}")
        locked.save(update_fields=["version", "status", "progress", "finished", "epochs", "heartbeat_at",
                                   "log_tail", "warnings"])
        transaction.on_commit(lambda: observe_job_finished(status=Status.SUCCEEDED, started=locked.started))
    progress.log = locked.log_tail
    return locked.version


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
    return f"OutOfMemory: {exc}; {limits.out_of_memory_advice(config_from_dict(job.config), job.dataset)}"


def _epoch_line(epoch: Epoch, planned: int) -> str:
    dev = ", ".join(f"dev_{name} {significant(value)}" for name, value in epoch.dev.items())
    best = " (best)" if epoch.is_best else ""
    member = f" (member {epoch.member})" if epoch.member is not None else ""      # of an ensemble
    return (f"epoch {epoch.epoch}/{planned}{member}: train_loss {significant(epoch.train_loss)}, {dev}{best}; "
            f"{epoch.tokens_per_s:,.0f} tokens/s, {epoch.seconds:.1f} s")
