"""Tests for apps/training/runs.py: a job run in this process (as a worker runs it), duplicates, failures,
the heartbeat, progress rows."""
from __future__ import annotations

import os
import re
import time
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from apps.datasets.services import dataset_validate
from apps.registry.models import ModelVersion, RegisteredModel
from apps.training import runs
from apps.training.checkpoints import checkpoint_dir
from apps.training.models import TrainingJob
from apps.training.recovery import jobs_requeue_stale
from apps.training.runs import job_fail, job_run
from tests.factories import DatasetFactory
from tests.training.conftest import tiny_launch, valid_dataset
from tests.training.helpers import LONG_AGO, launch, on_epoch_calls, running

# job_run: these commit, as a worker does, since the heartbeat thread writes through its own connection


@pytest.mark.parametrize("task", ["tagging", "classification", "translation"])
def test_it_trains_and_registers_a_version(transactional_db, alice, models_store, task):
    dataset = valid_dataset(alice, task, name=f"tiny {task}")
    job = launch(alice, dataset, f"tiny-{task}")

    finished = job_run(job_id=job.pk, worker="celery@test")

    job.refresh_from_db()
    assert finished == job
    assert (job.status, job.progress, job.attempts, job.error) == ("succeeded", 1.0, 1, "")
    assert (job.device, job.worker) == ("cpu", "celery@test")
    assert job.started <= job.heartbeat_at <= job.finished
    assert [row["epoch"] for row in job.epochs] == [1, 2]
    assert all(row["attempt"] == 1 and row["train_loss"] > 0 for row in job.epochs)
    version = job.version
    assert (version.model.name, version.model.task, version.model.owner, version.number) == (f"tiny-{task}", task,
                                                                                                alice, 1)
    assert version.dataset == dataset
    best = next(row for row in reversed(job.epochs) if row["is_best"])
    assert {f"dev_{name}": round(value, 5) for name, value in version.metrics.items()} == {
        key: value for key, value in best.items() if key.startswith("dev_") and key != "dev_loss"}   # not a metric
    assert version.job == job
    assert (models_store / f"tiny-{task}" / "1" / "manifest.json").is_file()
    assert not checkpoint_dir(job).exists()
    assert list((models_store / "checkpoints").iterdir()) == []          # no version folder left behind
    assert "epoch 2/2: train_loss" in job.log_tail
    assert job.log_tail.endswith(f"succeeded: tiny-{task} version 1")


def test_it_adds_the_next_version_to_the_same_model(transactional_db, alice, tagging_data):
    first, second = launch(alice, tagging_data), launch(alice, tagging_data)
    job_run(job_id=first.pk)
    job_run(job_id=second.pk)
    assert [job.version.number for job in TrainingJob.objects.order_by("pk")] == [1, 2]
    assert RegisteredModel.objects.get().versions.count() == 2


def test_it_says_when_early_stopping_ended_the_job_in_its_log_and_the_api(transactional_db, alice, tagging_data,
                                                                          api):
    # A learning rate too small to move the weights: epoch 1 stays the best, so patience 2 stops it at epoch 3.
    job = launch(alice, tagging_data, **tiny_launch(epochs=8, patience=2, lr=1e-7))

    job_run(job_id=job.pk)

    job.refresh_from_db()
    said = "stopped early at epoch 3 of 8: dev accuracy has not improved for 2 epochs"
    assert (job.status, len(job.epochs), job.stopped_early) == ("succeeded", 3, said)
    assert said in job.log_tail
    losses = re.findall(r"train_loss (\S+),", job.log_tail)             # 4 significant digits, as the admin shows
    assert len(losses) == 3 and all(len(loss.lstrip("0.").replace(".", "")) <= 4 for loss in losses), losses
    assert api.get(f"/api/training-jobs/{job.pk}/").data["stopped_early"] == said
    trained_all = launch(alice, tagging_data, **tiny_launch(epochs=2))
    job_run(job_id=trained_all.pk)
    trained_all.refresh_from_db()
    assert trained_all.stopped_early == "" and "stopped early" not in trained_all.log_tail


def test_a_version_whose_labels_differ_from_an_aliased_one_is_registered_with_a_warning(
        transactional_db, alice, api):
    two_labels = valid_dataset(alice, "classification", name="sst")
    three_labels = dataset_validate(dataset_id=DatasetFactory(
        owner=alice, task="classification", format="tsv",
        files={"train": "unseen_label.tsv", "dev": "tiny_sst.tsv"}).pk)
    first = launch(alice, two_labels, "sentiment")
    job_run(job_id=first.pk)
    api.post("/api/models/sentiment/aliases/", {"alias": "production", "version": 1}, format="json")
    second = launch(alice, three_labels, "sentiment")

    job_run(job_id=second.pk)

    second.refresh_from_db()
    warning = ("version 2 differs from version 1 behind alias 'production': labels added: 2; moving 'production' "
               "to it needs confirm")
    assert (second.status, second.version.number) == ("succeeded", 2)
    assert warning in second.warnings
    assert f"warning: {warning}" in second.log_tail
    assert warning in api.get(f"/api/training-jobs/{second.pk}/").data["warnings"]
    moved = api.post("/api/models/sentiment/aliases/", {"alias": "production", "version": 2}, format="json")
    assert (moved.status_code, moved.data["differences"]) == (409, ["labels added: 2"])


def test_it_does_nothing_for_a_duplicate_delivery(transactional_db, alice, tagging_data):
    job = launch(alice, tagging_data)
    job_run(job_id=job.pk)
    before = TrainingJob.objects.get(pk=job.pk)

    assert job_run(job_id=job.pk) is None

    after = TrainingJob.objects.get(pk=job.pk)
    assert (after.status, after.attempts, after.finished, after.log_tail) == ("succeeded", 1, before.finished,
                                                                               before.log_tail)
    assert ModelVersion.objects.count() == 1
    assert job_run(job_id=123456) is None                    # a job deleted since: nothing to do


def test_it_leaves_a_job_alone_that_is_running_on_a_live_worker(transactional_db, alice, tagging_data):
    job = launch(alice, tagging_data)
    TrainingJob.objects.filter(pk=job.pk).update(status="running", attempts=1, worker="celery@other",
                                                 heartbeat_at=timezone.now())
    assert job_run(job_id=job.pk) is None
    job.refresh_from_db()
    assert (job.status, job.attempts, job.worker) == ("running", 1, "celery@other")
    assert not ModelVersion.objects.exists()


def test_it_keeps_the_error_when_training_fails(transactional_db, alice, tagging_data, media_root):
    job = launch(alice, tagging_data)
    os.remove(tagging_data.train.path)

    job_run(job_id=job.pk)

    job.refresh_from_db()
    assert job.status == "failed"
    assert job.error == (f"FormatError: datasets/{tagging_data.pk}/train.conllu: cannot read the file: "
                         "No such file or directory")                  # no server folder in it
    assert str(media_root) not in job.log_tail
    assert job.log_tail.endswith(f"failed: {job.error}")
    assert job.finished is not None and job.version is None
    assert not checkpoint_dir(job).exists()


def test_it_fails_when_the_registry_refuses_the_version(transactional_db, alice, bob, tagging_data, models_store):
    job = launch(alice, tagging_data, "contested")
    RegisteredModel.objects.create(name="contested", task="tagging", owner=bob)     # taken while it trained

    job_run(job_id=job.pk)

    job.refresh_from_db()
    assert (job.status, job.error) == ("failed", "ServiceError: the model name 'contested' is taken; choose another")
    assert not ModelVersion.objects.exists()
    assert not (models_store / "contested").exists()
    assert list((models_store / "checkpoints").iterdir()) == []


@pytest.mark.skipif(__import__("torch").cuda.is_available(), reason="this machine has CUDA")
def test_it_fails_on_a_device_the_machine_does_not_have(transactional_db, alice, tagging_data, settings):
    settings.RNNSERVICE_DEVICE = "cuda"
    job = launch(alice, tagging_data)
    job_run(job_id=job.pk)
    job.refresh_from_db()
    assert (job.status, job.error) == ("failed", "ConfigError: device: 'cuda' was asked for but this machine has "
                                                 "no CUDA device")


def test_it_stops_an_attempt_that_was_taken_over_and_leaves_the_job_alone(transactional_db, alice, tagging_data,
                                                                       monkeypatch):
    job = launch(alice, tagging_data, **tiny_launch(epochs=3))

    def taken_over(epoch):          # another worker claimed the job while this one was silent (a long pause)
        TrainingJob.objects.filter(pk=job.pk).update(attempts=2, worker="celery@other")
    on_epoch_calls(monkeypatch, taken_over)

    assert job_run(job_id=job.pk, worker="celery@paused") is None

    job.refresh_from_db()
    assert (job.status, job.attempts, job.worker, job.epochs) == ("running", 2, "celery@other", [])
    assert checkpoint_dir(job).exists()                    # the other attempt resumes from it
    assert not ModelVersion.objects.exists()


def test_it_fails_only_a_queued_or_running_job_from_on_failure(alice, tagging_data):
    queued, done = launch(alice, tagging_data), launch(alice, tagging_data)
    TrainingJob.objects.filter(pk=done.pk).update(status="succeeded")
    for job in (queued, done):
        job_fail(job_id=job.pk, error="OperationalError: the database went away")
    assert TrainingJob.objects.get(pk=queued.pk).error == "OperationalError: the database went away"
    assert TrainingJob.objects.get(pk=queued.pk).status == "failed"
    assert (TrainingJob.objects.get(pk=done.pk).status, TrainingJob.objects.get(pk=done.pk).error) == ("succeeded",
                                                                                                      "")


def test_it_claims_a_job_sent_again_as_the_next_attempt(transactional_db, alice, tagging_data):
    job = running(launch(alice, tagging_data), silent_for=LONG_AGO)
    jobs_requeue_stale()
    job_run(job_id=job.pk, worker="celery@new")
    job.refresh_from_db()
    assert (job.status, job.attempts, job.worker) == ("succeeded", 2, "celery@new")


def test_it_writes_a_heartbeat_from_a_thread_while_the_job_runs(transactional_db, alice, tagging_data, settings):
    settings.TRAINING_HEARTBEAT_SECONDS = 0.05
    job = running(launch(alice, tagging_data), silent_for=LONG_AGO)
    with runs._heartbeat(job):
        deadline = time.monotonic() + 5
        while TrainingJob.objects.get(pk=job.pk).heartbeat_at < timezone.now() - timedelta(seconds=5):
            assert time.monotonic() < deadline, "no heartbeat written"
            time.sleep(0.02)
    last = TrainingJob.objects.get(pk=job.pk).heartbeat_at
    time.sleep(0.2)
    assert TrainingJob.objects.get(pk=job.pk).heartbeat_at == last          # stopped with the job


def test_it_stops_the_heartbeat_of_a_job_another_attempt_took_over(transactional_db, alice, tagging_data, settings):
    settings.TRAINING_HEARTBEAT_SECONDS = 0.05
    job = running(launch(alice, tagging_data), silent_for=LONG_AGO)
    TrainingJob.objects.filter(pk=job.pk).update(attempts=2)
    with runs._heartbeat(job):
        time.sleep(0.3)
    assert TrainingJob.objects.get(pk=job.pk).heartbeat_at < timezone.now() - timedelta(minutes=30)


def test_it_writes_progress_at_most_every_training_progress_seconds_and_loses_no_epoch(
        transactional_db, alice, tagging_data, settings):
    settings.TRAINING_PROGRESS_SECONDS = 3600         # the first epoch is written, the next ones wait
    job = launch(alice, tagging_data, **tiny_launch(epochs=3, patience=10))
    with CaptureQueriesContext(connection) as queries:
        job_run(job_id=job.pk)
    progress_writes = [q["sql"] for q in queries.captured_queries
                       if q["sql"].startswith("UPDATE") and '"log_tail"' in q["sql"] and '"progress"' in q["sql"]]
    assert len(progress_writes) == 3                  # epoch 1, the end of training (_seal), the finished job
    job.refresh_from_db()
    assert (job.status, [row["epoch"] for row in job.epochs]) == ("succeeded", [1, 2, 3])
    assert "epoch 3/3" in job.log_tail
