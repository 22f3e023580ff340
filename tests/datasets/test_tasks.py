"""Tests for apps/datasets/tasks.py: the periodic resending of lost validations, from beat and as a worker starts."""
from __future__ import annotations

from datetime import timedelta

from celery.signals import worker_ready
from django.conf import settings
from django.utils import timezone

from apps.datasets import tasks
from apps.datasets.models import Dataset
from rnnservice.celery import app
from tests.factories import DatasetFactory


def test_it_runs_on_the_default_queue_every_dataset_pending_resend_seconds():
    entry = settings.CELERY_BEAT_SCHEDULE["resend-pending-datasets"]
    assert (entry["task"], entry["schedule"]) == (tasks.resend_pending_datasets.name,
                                                  settings.DATASET_PENDING_RESEND_SECONDS)
    assert app.amqp.router.route({}, tasks.resend_pending_datasets.name)["queue"].name == "default"


def test_it_sends_a_lost_validation_again_from_beat_and_when_a_worker_starts(transactional_db, alice, monkeypatch):
    sent: list[int] = []
    monkeypatch.setattr(tasks.validate_dataset, "delay", sent.append)
    pending = DatasetFactory(owner=alice)
    Dataset.objects.filter(pk=pending.pk).update(updated=timezone.now() - timedelta(hours=1))

    tasks.resend_pending_datasets.apply()

    assert sent == [pending.pk]
    Dataset.objects.filter(pk=pending.pk).update(updated=timezone.now() - timedelta(hours=1))
    worker_ready.send(sender=None)
    assert sent == [pending.pk, pending.pk]
