"""Tests for apps/training/recovery.py: silent jobs sent again, resumed from their checkpoint, or given up."""
from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from apps.registry.models import ModelVersion
from apps.training.checkpoints import checkpoint_dir
from apps.training.models import TrainingJob
from apps.training.recovery import jobs_requeue_stale
from apps.training.runs import job_run
from tests.training.conftest import tiny_launch
from tests.training.helpers import LONG_AGO, killed_in_epoch_3, launch, running


def test_it_resumes_a_job_whose_worker_died_from_its_checkpoint(transactional_db, alice, tagging_data, monkeypatch):
    job = launch(alice, tagging_data, **tiny_launch(epochs=4, patience=10))
    killed_in_epoch_3(job, monkeypatch)
    job.refresh_from_db()
    assert (job.status, job.attempts, [row["epoch"] for row in job.epochs]) == ("running", 1, [1, 2])
    assert (checkpoint_dir(job) / "last" / "trainer.json").is_file()     # epoch 3's checkpoint, not its row
    first_epochs = job.epochs
    TrainingJob.objects.filter(pk=job.pk).update(heartbeat_at=timezone.now() - LONG_AGO)

    job_run(job_id=job.pk, worker="celery@second")

    job.refresh_from_db()
    assert (job.status, job.attempts, job.worker, job.version.number) == ("succeeded", 2, "celery@second", 1)
    assert [row["epoch"] for row in job.epochs] == [1, 2, 3, 4]
    assert job.epochs[:2] == first_epochs                  # not trained again
    assert job.epochs[2]["attempt"] is None                # trained, checkpointed, killed before its row: filled in
    assert job.epochs[3]["attempt"] == 2
    assert "attempt 2 started from its last checkpoint on celery@second" in job.log_tail
    assert ModelVersion.objects.count() == 1


# the heartbeat and the requeue of silent jobs


def test_it_sends_a_silent_running_job_to_the_queue_again(alice, tagging_data, sent, settings):
    settings.TRAINING_STALE_SECONDS = 60
    silent = running(launch(alice, tagging_data), silent_for=timedelta(seconds=61))
    alive = running(launch(alice, tagging_data), silent_for=timedelta(seconds=5))

    assert jobs_requeue_stale() == [silent.pk]

    assert sent == [silent.pk]
    silent.refresh_from_db()
    assert (silent.status, silent.attempts) == ("queued", 1)          # the next claim makes it attempt 2
    assert "sent to the queue again: no heartbeat since" in silent.log_tail
    assert "from celery@gone" in silent.log_tail
    assert TrainingJob.objects.get(pk=alive.pk).status == "running"
    assert jobs_requeue_stale(older_than=timedelta(seconds=1)) == [alive.pk]


def test_it_sends_the_jobs_of_a_restarted_worker_again_at_once(alice, tagging_data, sent):
    own = running(launch(alice, tagging_data), silent_for=timedelta(seconds=1), worker="celery@restarted")
    other = running(launch(alice, tagging_data), silent_for=timedelta(seconds=1), worker="celery@alive")

    assert jobs_requeue_stale(restarted_worker="celery@restarted") == [own.pk]

    assert sent == [own.pk]
    own.refresh_from_db()
    assert own.status == "queued"
    assert "sent to the queue again: celery@restarted started again without it" in own.log_tail
    assert TrainingJob.objects.get(pk=other.pk).status == "running"


def test_it_sends_a_running_job_without_a_heartbeat_again(alice, tagging_data, sent):
    job = running(launch(alice, tagging_data), silent_for=LONG_AGO)
    TrainingJob.objects.filter(pk=job.pk).update(heartbeat_at=None)
    assert jobs_requeue_stale() == [job.pk]
    assert "sent to the queue again: no heartbeat from celery@gone" in TrainingJob.objects.get(pk=job.pk).log_tail


def test_it_gives_a_silent_job_up_after_the_last_attempt(alice, tagging_data, sent, settings,
                                                         django_capture_on_commit_callbacks):
    settings.TRAINING_MAX_ATTEMPTS = 3
    job = running(launch(alice, tagging_data), silent_for=LONG_AGO, attempts=3)
    checkpoint_dir(job).mkdir(parents=True)
    with django_capture_on_commit_callbacks(execute=True):
        assert jobs_requeue_stale() == []
    job.refresh_from_db()
    assert (job.status, sent) == ("failed", [])
    assert job.error.startswith("WorkerLost: no heartbeat since ")
    assert job.error.endswith("from celery@gone; gave up after 3 attempts (TRAINING_MAX_ATTEMPTS)")
    assert job.finished is not None
    assert not checkpoint_dir(job).exists()


def test_it_cancels_a_silent_job_whose_cancel_was_asked(alice, tagging_data, sent):
    job = running(launch(alice, tagging_data), silent_for=LONG_AGO, cancel_requested=True)
    assert jobs_requeue_stale() == []
    job.refresh_from_db()
    assert (job.status, sent) == ("cancelled", [])
    assert "cancelled: no heartbeat since" in job.log_tail


def test_it_keeps_a_silent_job_running_when_the_broker_refuses(alice, tagging_data, monkeypatch, caplog):
    from apps.training.tasks import train_model

    def refuse(job_id):
        raise OSError("broker down")
    monkeypatch.setattr(train_model, "delay", refuse)
    job = running(launch(alice, tagging_data), silent_for=LONG_AGO)
    assert jobs_requeue_stale() == []
    job.refresh_from_db()
    assert job.status == "running"                 # the next pass tries again
    assert f"training job {job.pk} could not be sent again" in caplog.text
