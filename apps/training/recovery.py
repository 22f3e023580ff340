"""Recovery of lost training jobs, from the stale check (celery beat, and each worker as it starts): running jobs
whose worker died are sent again (to resume from their checkpoint) or given up, queued jobs whose message was
lost are sent again."""
from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from apps.training import limits
from apps.training.checkpoints import checkpoint_remove
from apps.training.models import TrainingJob
from apps.training.oom import oom_killed
from apps.training.records import job_finish, log_add
from apps.training.tasks import train_model as train_model_task
from rnnservice.ml.config import config_from_dict

logger = logging.getLogger(__name__)
Status = TrainingJob.Status


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
        job_finish(job, Status.CANCELLED, log_add(job.log_tail, f"cancelled: {why}"), check=False)
    elif killed := oom_killed(job):
        error = oom_error(job, killed)
        job_finish(job, Status.FAILED, log_add(job.log_tail, f"failed: {error}"), error=error, check=False)
    elif job.attempts >= settings.TRAINING_MAX_ATTEMPTS:
        error = f"WorkerLost: {why}; gave up after {job.attempts} attempts (TRAINING_MAX_ATTEMPTS)"
        job_finish(job, Status.FAILED, log_add(job.log_tail, f"failed: {error}"), error=error, check=False)
    else:
        # Sent before the commit: if the broker refuses, the transaction rolls back and the job stays stale for
        # the next pass. A worker that gets the message first has its claim wait for this lock, match nothing
        # (the row is no longer the one it read), read it again and find the job queued (job_start).
        train_model_task.delay(job.pk)
        job.status, job.sent_at = Status.QUEUED, timezone.now()
        job.log_tail = log_add(job.log_tail, f"sent to the queue again: {why}")
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
                job.sent_at, job.log_tail = timezone.now(), log_add(job.log_tail, f"sent to the queue again: {why}")
                job.save(update_fields=["sent_at", "log_tail"])
        except Exception:
            logger.exception("training job %s could not be sent again", job_id)
            continue
        logger.warning("training job %s sent to the queue again: %s", job_id, why)
        sent.append(job_id)
    return sent


def is_stale(job: TrainingJob, now: datetime) -> bool:
    """Running, silent for longer than TRAINING_STALE_SECONDS, and not out of attempts."""
    silent = job.heartbeat_at is None or job.heartbeat_at < now - _stale_after()
    return job.status == Status.RUNNING and silent and job.attempts < settings.TRAINING_MAX_ATTEMPTS


def _stale_after() -> timedelta:
    return timedelta(seconds=settings.TRAINING_STALE_SECONDS)


def oom_error(job: TrainingJob, killed: str) -> str:
    """The error of a job whose worker the OOM killer killed (apps/training/oom.py): what happened, and what the
    launch estimated. It is not sent again: the next worker would die the same way."""
    return (f"OutOfMemory: its worker was killed: {killed}; "
            f"{limits.out_of_memory_advice(config_from_dict(job.config), job.dataset)}")
