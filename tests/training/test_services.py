"""Tests for apps/training/services.py: launch, run in this process, cancel, failure, duplicates, requeue."""
from __future__ import annotations

import os
import shutil
import time
from datetime import timedelta
from pathlib import Path

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from apps.registry.models import ModelVersion, RegisteredModel
from apps.training import services
from apps.training.models import TrainingJob
from apps.training.services import (
    checkpoint_dir,
    job_cancel,
    job_fail,
    job_launch,
    job_run,
    jobs_requeue_stale,
)
from rnnservice.errors import Conflict, ServiceError
from tests.factories import DatasetFactory
from tests.training.conftest import tiny_launch, valid_dataset

LONG_AGO = timedelta(hours=1)


def launch(owner, dataset, model_name: str = "tiny-upos", **sections) -> TrainingJob:
    return job_launch(owner=owner, dataset=dataset, model_name=model_name,
                      **(sections or tiny_launch(dataset.task)))


def on_epoch_calls(monkeypatch, before):
    """Make `before(epoch)` run ahead of each epoch's database write (what a user or another worker does)."""
    record = services._Progress.__call__

    def wrapped(self, epoch):
        before(epoch)
        return record(self, epoch)
    monkeypatch.setattr(services._Progress, "__call__", wrapped)


class WorkerKilled(BaseException):
    """Stands in for SIGKILL: not an Exception, so nothing in job_run records it."""


# launch


def test_it_launches_a_queued_job_and_sends_it_once_committed(alice, tagging_data, sent,
                                                              django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        job = launch(alice, tagging_data)
        assert sent == []                                   # not before the commit: the worker must find the row
    assert len(callbacks) == 1
    assert sent == [job.pk]
    job.refresh_from_db()
    assert (job.owner, job.dataset, job.model_name, job.status) == (alice, tagging_data, "tiny-upos", "queued")
    assert (job.attempts, job.progress, job.epochs, job.version, job.started) == (0, 0.0, [], None, None)
    assert job.config["task"] == "tagging"
    assert job.config["data"]["format"] == "conllu"
    assert job.config["architecture"] == {**job.config["architecture"], "embed_dim": 8, "hidden_dim": 16,
                                          "num_layers": 1, "char_dim": 0}
    assert job.config["training"]["epochs"] == 2
    assert job.config["training"]["patience"] == 4              # the task's default, written down at launch


@pytest.mark.parametrize(("sections", "field"), [
    ({"training": {"epochs": 0}}, "training.epochs"),
    ({"training": {"epochs": "5"}}, "training.epochs"),
    ({"architecture": {"cell": "transformer"}}, "architecture.cell"),
    ({"architecture": {"pooling": "mean"}}, "architecture.pooling"),          # classification only
    ({"architecture": {"hidden": 16}}, "architecture.hidden"),
    ({"tokenizer": {"kind": "sentencepiece"}}, "tokenizer.kind"),
])
def test_it_refuses_a_bad_config_value_naming_the_field(alice, tagging_data, sections, field):
    with pytest.raises(ServiceError) as caught:
        launch(alice, tagging_data, **sections)
    assert caught.value.extra == {"field": field}
    assert caught.value.message.startswith(f"{field}: ")
    assert not TrainingJob.objects.exists()


@pytest.mark.parametrize("status", ["pending", "invalid"])
def test_it_refuses_a_dataset_that_is_not_valid(alice, status):
    dataset = DatasetFactory(owner=alice, name="unchecked", status=status)
    with pytest.raises(ServiceError, match=f"dataset 'unchecked' is {status}; only a valid dataset") as caught:
        launch(alice, dataset)
    assert caught.value.extra == {"field": "dataset"}
    assert not TrainingJob.objects.exists()


def test_it_refuses_a_dataset_the_owner_cannot_see(alice, bob, staff):
    bobs = valid_dataset(bob, name="bobs")
    with pytest.raises(ServiceError, match=f"no dataset with id {bobs.pk}") as caught:
        launch(alice, bobs)
    assert caught.value.extra == {"field": "dataset"}
    assert not TrainingJob.objects.exists()
    assert launch(staff, bobs).owner == staff                    # staff see every dataset


@pytest.mark.parametrize(("name", "message"), [
    ("taken", "the model name 'taken' is taken; choose another"),
    ("Mine", "you have a model named 'mine'; model names are unique regardless of case"),
    ("sentiment", "model 'sentiment' is a classification model; the dataset holds tagging data"),
    ("no spaces", "model name 'no spaces' is not valid"),
    ("-dash", "model name '-dash' is not valid"),
    ("checkpoints", "model name 'checkpoints' is not valid"),
])
def test_it_refuses_a_model_name_it_could_not_register(alice, bob, tagging_data, name, message):
    RegisteredModel.objects.create(name="taken", task="tagging", owner=bob)
    RegisteredModel.objects.create(name="mine", task="tagging", owner=alice)
    RegisteredModel.objects.create(name="sentiment", task="classification", owner=alice)
    with pytest.raises(ServiceError, match=message) as caught:
        launch(alice, tagging_data, name)
    assert caught.value.extra == {"field": "model_name"}
    assert not TrainingJob.objects.exists()


def test_it_launches_into_a_model_the_owner_has(alice, tagging_data):
    RegisteredModel.objects.create(name="mine", task="tagging", owner=alice)
    assert launch(alice, tagging_data, "mine").status == "queued"


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


def killed_in_epoch_3(job, monkeypatch) -> None:
    """Run the job on celery@first until its worker dies in epoch 3's report, after that epoch's checkpoint."""
    def die_after_epoch_2(epoch):
        if epoch.epoch == 3:
            raise WorkerKilled
    on_epoch_calls(monkeypatch, die_after_epoch_2)
    with pytest.raises(WorkerKilled):
        job_run(job_id=job.pk, worker="celery@first")
    monkeypatch.undo()


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


def _killed_at_epoch_3_on_its_first_machine(job, monkeypatch) -> list[dict]:
    """killed_in_epoch_3, and then the machine is gone with its disk. The epochs recorded."""
    killed_in_epoch_3(job, monkeypatch)
    shutil.rmtree(checkpoint_dir(job))
    TrainingJob.objects.filter(pk=job.pk).update(heartbeat_at=timezone.now() - LONG_AGO)
    return TrainingJob.objects.get(pk=job.pk).epochs


def test_with_a_bucket_a_job_resumes_on_another_machine_from_the_bucket_copy_of_its_checkpoint(
        transactional_db, s3_bucket, models_store, alice, tagging_data, monkeypatch):
    job = launch(alice, tagging_data, **tiny_launch(epochs=4, patience=10))
    first_epochs = _killed_at_epoch_3_on_its_first_machine(job, monkeypatch)
    copied = s3_bucket.keys(f"models/checkpoints/job-{job.pk}/")
    assert f"models/checkpoints/job-{job.pk}/checkpoint.json" in copied
    assert f"models/checkpoints/job-{job.pk}/last/trainer.json" in copied

    job_run(job_id=job.pk, worker="celery@second")

    job.refresh_from_db()
    assert (job.status, job.attempts, job.version.number) == ("succeeded", 2, 1)
    assert job.epochs[:2] == first_epochs                  # epoch 2's checkpoint, from the bucket: not trained again
    assert [row["attempt"] for row in job.epochs[2:]] == [2, 2]   # epoch 3 was never uploaded: trained again
    assert s3_bucket.keys("models/checkpoints/") == []     # finished: the copy is gone with the local one
    assert not checkpoint_dir(job).exists()


def test_a_bucket_copy_that_does_not_match_its_checkpoint_json_is_not_resumed(
        transactional_db, s3_bucket, models_store, alice, tagging_data, monkeypatch, caplog):
    job = launch(alice, tagging_data, **tiny_launch(epochs=3, patience=10))
    _killed_at_epoch_3_on_its_first_machine(job, monkeypatch)
    s3_bucket.client.put_object(Bucket=s3_bucket.name, Key=f"models/checkpoints/job-{job.pk}/last/model.safetensors",
                                Body=b"written by an attempt that was still uploading")

    job_run(job_id=job.pk, worker="celery@second")

    job.refresh_from_db()
    assert job.status == "succeeded"
    assert [row["attempt"] for row in job.epochs] == [2, 2, 2]       # trained from its first epoch
    assert "is not whole (last/model.safetensors does not match checkpoint.json): not resumed" in caplog.text


def test_it_cancels_a_queued_job_at_once(transactional_db, alice, tagging_data):
    job = launch(alice, tagging_data)
    cancelled = job_cancel(job=job)
    assert (cancelled.status, cancelled.cancel_requested) == ("cancelled", True)
    assert cancelled.finished is not None

    assert job_run(job_id=job.pk) is None                  # its message, delivered afterwards, does nothing

    job.refresh_from_db()
    assert (job.status, job.attempts, job.epochs) == ("cancelled", 0, [])
    assert not ModelVersion.objects.exists()


def test_it_cancels_a_running_job_at_the_end_of_the_epoch(transactional_db, alice, tagging_data, monkeypatch):
    job = launch(alice, tagging_data, **tiny_launch(epochs=5))

    def cancel_during_epoch_2(epoch):
        if epoch.epoch == 2:
            running = TrainingJob.objects.get(pk=job.pk)
            assert job_cancel(job=running).status == "running"          # asked: seen at the epoch's end
    on_epoch_calls(monkeypatch, cancel_during_epoch_2)

    job_run(job_id=job.pk)

    job.refresh_from_db()
    assert (job.status, job.cancel_requested, job.version, job.error) == ("cancelled", True, None, "")
    assert [row["epoch"] for row in job.epochs] == [1, 2]
    assert job.progress == pytest.approx(2 / 5)
    assert job.log_tail.endswith("cancelled after epoch 2")
    assert not checkpoint_dir(job).exists()
    assert not ModelVersion.objects.exists()


def test_it_refuses_to_cancel_a_finished_job(alice, tagging_data):
    job = launch(alice, tagging_data)
    TrainingJob.objects.filter(pk=job.pk).update(status="succeeded")
    with pytest.raises(ServiceError, match=rf"job {job.pk} has finished \(succeeded\); only a queued") as caught:
        job_cancel(job=job)
    assert caught.value.extra == {"field": "status"}
    job.refresh_from_db()
    assert (job.status, job.cancel_requested) == ("succeeded", False)


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


# the heartbeat and the requeue of silent jobs


def running(job: TrainingJob, *, silent_for: timedelta, attempts: int = 1, **fields) -> TrainingJob:
    fields = {"worker": "celery@gone", **fields}
    TrainingJob.objects.filter(pk=job.pk).update(status="running", attempts=attempts,
                                                 heartbeat_at=timezone.now() - silent_for, **fields)
    return TrainingJob.objects.get(pk=job.pk)


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


def test_it_claims_a_job_sent_again_as_the_next_attempt(transactional_db, alice, tagging_data):
    job = running(launch(alice, tagging_data), silent_for=LONG_AGO)
    jobs_requeue_stale()
    job_run(job_id=job.pk, worker="celery@new")
    job.refresh_from_db()
    assert (job.status, job.attempts, job.worker) == ("succeeded", 2, "celery@new")


def test_it_writes_a_heartbeat_from_a_thread_while_the_job_runs(transactional_db, alice, tagging_data, settings):
    settings.TRAINING_HEARTBEAT_SECONDS = 0.05
    job = running(launch(alice, tagging_data), silent_for=LONG_AGO)
    with services._heartbeat(job):
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
    with services._heartbeat(job):
        time.sleep(0.3)
    assert TrainingJob.objects.get(pk=job.pk).heartbeat_at < timezone.now() - timedelta(minutes=30)


def test_it_keeps_the_checkpoint_under_the_models_store(alice, tagging_data, models_store):
    job = launch(alice, tagging_data)
    assert checkpoint_dir(job) == Path(models_store) / "checkpoints" / f"job-{job.pk}"


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


def test_a_cancel_during_the_last_epoch_ends_the_job_cancelled(transactional_db, alice, tagging_data, monkeypatch,
                                                              settings):
    settings.TRAINING_PROGRESS_SECONDS = 3600          # the last epoch's row is not written: no cancel check there
    job = launch(alice, tagging_data, **tiny_launch(epochs=2))

    def cancel_in_the_last_epoch(epoch):
        if epoch.epoch == 2:
            assert job_cancel(job=TrainingJob.objects.get(pk=job.pk)).status == "running"   # accepted...
    on_epoch_calls(monkeypatch, cancel_in_the_last_epoch)

    job_run(job_id=job.pk)

    job.refresh_from_db()
    assert (job.status, job.cancel_requested, job.version) == ("cancelled", True, None)    # ...and honoured
    assert job.log_tail.endswith("cancelled after epoch 2") and not ModelVersion.objects.exists()


def test_a_cancel_once_training_is_over_says_it_is_too_late(alice, tagging_data):
    job = running(launch(alice, tagging_data), silent_for=timedelta(0), progress=1.0)
    with pytest.raises(Conflict, match="too late to cancel") as refused:
        job_cancel(job=job)
    assert refused.value.status == 409
    job.refresh_from_db()
    assert (job.status, job.cancel_requested) == ("running", False)
