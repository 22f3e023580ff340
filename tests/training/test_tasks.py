"""Tests for apps/training/tasks.py: the queue and delivery options, the failure hook, the requeue schedule."""
from __future__ import annotations

from datetime import timedelta

from celery.signals import worker_ready
from django.conf import settings
from django.db import OperationalError
from django.utils import timezone

from apps.training import tasks
from apps.training.models import TrainingJob
from apps.training.services import job_launch
from rnnservice.celery import app
from tests.training.conftest import tiny_launch


def test_it_routes_train_model_to_the_training_queue_acknowledged_late():
    assert app.amqp.router.route({}, tasks.train_model.name)["queue"].name == "training"
    assert app.amqp.router.route({}, tasks.requeue_stale_jobs.name)["queue"].name == "default"
    assert tasks.train_model.acks_late is True
    assert tasks.train_model.reject_on_worker_lost is True


def test_it_runs_the_job_in_train_model(transactional_db, alice, tagging_data):
    job = job_launch(owner=alice, dataset=tagging_data, model_name="by-task", **tiny_launch())
    tasks.train_model.apply(args=[job.pk])
    job.refresh_from_db()
    assert (job.status, job.version.number) == ("succeeded", 1)


def test_it_fails_the_job_on_an_error_job_run_could_not_record(alice, tagging_data, monkeypatch):
    job = job_launch(owner=alice, dataset=tagging_data, model_name="x", **tiny_launch())

    def unreachable(**kwargs):
        raise ConnectionError("the database went away")
    monkeypatch.setattr("apps.training.runs.job_run", unreachable)
    result = tasks.train_model.apply(args=[job.pk])
    assert result.failed()
    job.refresh_from_db()
    assert (job.status, job.error) == ("failed", "ConnectionError: the database went away")


# The worker_ready hook closes its connections, as a worker's main process should: these tests commit.
def test_it_requeues_stale_jobs_from_beat_and_when_a_worker_starts(transactional_db, alice, tagging_data, sent):
    entry = settings.CELERY_BEAT_SCHEDULE["requeue-stale-training-jobs"]
    assert (entry["task"], entry["schedule"]) == (tasks.requeue_stale_jobs.name, settings.TRAINING_STALE_SECONDS)
    assert tasks.requeue_stale_jobs_at_worker_start in [ref() for _, ref in worker_ready.receivers]
    job = job_launch(owner=alice, dataset=tagging_data, model_name="x", **tiny_launch())
    sent.clear()                                               # the launch's own message
    silent = timezone.now() - timedelta(seconds=settings.TRAINING_STALE_SECONDS + 1)
    TrainingJob.objects.filter(pk=job.pk).update(status="running", attempts=1, heartbeat_at=silent)

    tasks.requeue_stale_jobs.apply()

    assert sent == [job.pk]
    assert TrainingJob.objects.get(pk=job.pk).status == "queued"
    TrainingJob.objects.filter(pk=job.pk).update(status="running", attempts=1, heartbeat_at=silent)
    worker_ready.send(sender=None)
    assert sent == [job.pk, job.pk]


class Consumer:
    """What worker_ready's sender has that the hook reads: the worker's node name."""

    def __init__(self, hostname: str):
        self.hostname = hostname


def test_it_takes_back_the_jobs_recorded_on_a_worker_that_starts(transactional_db, alice, tagging_data, sent):
    job = job_launch(owner=alice, dataset=tagging_data, model_name="x", **tiny_launch())
    sent.clear()                                               # the launch's own message
    TrainingJob.objects.filter(pk=job.pk).update(status="running", attempts=1, worker="w1@host",
                                                 heartbeat_at=timezone.now())
    worker_ready.send(sender=Consumer("w2@host"))
    assert sent == []                                          # alive, on another worker
    worker_ready.send(sender=Consumer("w1@host"))
    assert sent == [job.pk]
    assert TrainingJob.objects.get(pk=job.pk).status == "queued"


def test_it_leaves_the_job_to_the_stale_check_when_the_database_could_not_be_reached(alice, tagging_data,
                                                                                    monkeypatch):
    # A job is not at fault for an outage: failing it would lose it. Queued, it is sent again; running, resumed.
    job = job_launch(owner=alice, dataset=tagging_data, model_name="x", **tiny_launch())

    def unreachable(**kwargs):
        raise OperationalError("connection to server at \"db\" failed: Connection refused")
    monkeypatch.setattr("apps.training.runs.job_run", unreachable)
    assert tasks.train_model.apply(args=[job.pk]).failed()
    job.refresh_from_db()
    assert (job.status, job.error) == ("queued", "")


def test_it_sends_a_job_whose_message_was_lost_again_from_beat(transactional_db, alice, tagging_data, sent):
    job = job_launch(owner=alice, dataset=tagging_data, model_name="x", **tiny_launch())
    sent.clear()
    TrainingJob.objects.filter(pk=job.pk).update(sent_at=timezone.now() - timedelta(hours=1))

    tasks.requeue_stale_jobs.apply()

    assert sent == [job.pk]
