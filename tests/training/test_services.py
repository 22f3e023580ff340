"""Tests for apps/training/services.py: launch (what it refuses, naming the field) and cancel."""
from __future__ import annotations

from datetime import timedelta

import pytest

from apps.datasets.services import dataset_validate
from apps.registry.models import ModelVersion, RegisteredModel
from apps.training.checkpoints import checkpoint_dir
from apps.training.models import TrainingJob
from apps.training.runs import job_run
from apps.training.services import job_cancel
from rnnservice.errors import Conflict, ServiceError
from tests.factories import DatasetFactory
from tests.training.conftest import tiny_launch, valid_dataset
from tests.training.helpers import launch, on_epoch_calls, running

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
    ("sentiment", "model 'sentiment' is a classification model; a tagging version cannot join it"),
    ("no spaces", "model name 'no spaces' is not valid"),
    ("-dash", "model name '-dash' is not valid"),
    ("checkpoints", "model name 'checkpoints' is reserved"),
])
def test_it_refuses_a_model_name_it_could_not_register(alice, bob, tagging_data, name, message):
    RegisteredModel.objects.create(name="taken", task="tagging", owner=bob)
    RegisteredModel.objects.create(name="mine", task="tagging", owner=alice)
    RegisteredModel.objects.create(name="sentiment", task="classification", owner=alice)
    with pytest.raises(ServiceError, match=message) as caught:
        launch(alice, tagging_data, name)
    assert caught.value.extra == {"field": "model_name"}
    assert not TrainingJob.objects.exists()


def test_it_warns_at_launch_of_a_dev_split_too_small_or_missing_labels(alice, tagging_data):
    job = launch(alice, tagging_data)                       # tests/data/tiny.conllu as train and dev: 2 sentences

    assert job.warnings == ["the dev file has 2 examples, fewer than 20: its scores are noisy, and early stopping "
                            "and the best epoch rest on very few examples"]
    assert f"warning: {job.warnings[0]}" in job.log_tail
    three_labels = dataset_validate(dataset_id=DatasetFactory(
        owner=alice, task="classification", format="tsv",
        files={"train": "unseen_label.tsv", "dev": "tiny_sst.tsv"}).pk)
    missing = launch(alice, three_labels, "sentiment")
    assert missing.warnings[1] == ("1 label of the training split is missing from the dev file (2): the dev score "
                                   "cannot tell whether the model learnt them")
    no_dev = dataset_validate(dataset_id=DatasetFactory(owner=alice, task="classification", format="tsv",
                                                        files={"train": "tiny_sst.tsv"}).pk)
    split = launch(alice, no_dev, "split")
    assert split.warnings[0].startswith("the dev split (0.1 of the training examples) has 1 example, fewer than 20")


def test_it_launches_into_a_model_the_owner_has(alice, tagging_data):
    RegisteredModel.objects.create(name="mine", task="tagging", owner=alice)
    assert launch(alice, tagging_data, "mine").status == "queued"


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
    with pytest.raises(Conflict, match=rf"job {job.pk} has finished \(succeeded\); only a queued") as caught:
        job_cancel(job=job)
    assert caught.value.extra == {"field": "status"}
    job.refresh_from_db()
    assert (job.status, job.cancel_requested) == ("succeeded", False)


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
