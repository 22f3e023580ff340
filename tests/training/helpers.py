"""What the training tests share: a tiny launch, a hook before each epoch's write, a worker killed mid-run, a job
made silent."""
from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from apps.training import runs
from apps.training.models import TrainingJob
from apps.training.runs import job_run
from apps.training.services import job_launch
from tests.training.conftest import tiny_launch

LONG_AGO = timedelta(hours=1)


def launch(owner, dataset, model_name: str = "tiny-upos", **sections) -> TrainingJob:
    return job_launch(owner=owner, dataset=dataset, model_name=model_name,
                      **(sections or tiny_launch(dataset.task)))


def on_epoch_calls(monkeypatch, before):
    """Make `before(epoch)` run ahead of each epoch's database write (what a user or another worker does)."""
    record = runs._Progress.__call__

    def wrapped(self, epoch):
        before(epoch)
        return record(self, epoch)
    monkeypatch.setattr(runs._Progress, "__call__", wrapped)


class WorkerKilled(BaseException):
    """Stands in for SIGKILL: not an Exception, so nothing in job_run records it."""


def killed_in_epoch_3(job, monkeypatch) -> None:
    """Run the job on celery@first until its worker dies in epoch 3's report, after that epoch's checkpoint."""
    def die_after_epoch_2(epoch):
        if epoch.epoch == 3:
            raise WorkerKilled
    on_epoch_calls(monkeypatch, die_after_epoch_2)
    with pytest.raises(WorkerKilled):
        job_run(job_id=job.pk, worker="celery@first")
    monkeypatch.undo()


def running(job: TrainingJob, *, silent_for: timedelta, attempts: int = 1, **fields) -> TrainingJob:
    fields = {"worker": "celery@gone", **fields}
    TrainingJob.objects.filter(pk=job.pk).update(status="running", attempts=attempts,
                                                 heartbeat_at=timezone.now() - silent_for, **fields)
    return TrainingJob.objects.get(pk=job.pk)
