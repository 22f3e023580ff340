"""A training job's row as the other modules write it: its log tail, its end (cancelled or failed), and errors
with the server's folders taken out."""
from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import InterfaceError, OperationalError, transaction
from django.utils import timezone

from apps.training.models import TrainingJob
from rnnservice.errors import redact
from rnnservice.prometheus import observe_job_finished

Status = TrainingJob.Status
LOG_TAIL_LINES = 50
# What a database that cannot be reached raises (OperationalError: refused, dropped, timed out, SQLite locked;
# InterfaceError: a connection that was already closed), as against errors in a query, which are bugs.
UNREACHABLE = (OperationalError, InterfaceError)


def log_add(log: str, line: str) -> str:
    stamped = f"{timezone.now():%Y-%m-%d %H:%M:%S} {line}"
    return "\n".join([*log.splitlines(), stamped][-LOG_TAIL_LINES:])


def job_finish(job: TrainingJob, status: str, log_tail: str, *, error: str = "", check: bool = True,
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


def public_error(message: str) -> str:
    """An error without the server's folders: users see where in *their* data, not where on our disks."""
    return redact(message, {str(root).rstrip("/") + "/": "" for root in (settings.MEDIA_ROOT, settings.MODELS_STORE)})
