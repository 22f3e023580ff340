"""Tests for apps.datasets.services beyond what the API tests cover: idempotence, failure paths, clean-up."""
from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import FileSystemStorage
from django.utils import timezone

from apps.datasets.models import Dataset
from apps.datasets.services import dataset_create, dataset_validate, datasets_resend_pending
from apps.datasets.tasks import validate_dataset
from tests.factories import DatasetFactory


def test_it_leaves_a_validated_dataset_alone(alice):
    dataset = DatasetFactory(owner=alice)
    first = dataset_validate(dataset_id=dataset.pk)
    Path(dataset.train.path).write_text("broken\n", encoding="utf-8")
    again = dataset_validate(dataset_id=dataset.pk)
    assert first.status == again.status == "valid"
    assert again.statistics == first.statistics
    assert Dataset.objects.get(pk=dataset.pk).updated == first.updated


def test_it_does_nothing_for_a_dataset_that_is_gone(db):
    assert dataset_validate(dataset_id=12345) is None
    assert not Dataset.objects.exists()


def test_it_keeps_a_given_format_and_records_a_guessed_one(alice):
    given = DatasetFactory(owner=alice, task="tagging", format="columns", files={"train": "tiny_ner.txt"})
    guessed = DatasetFactory(owner=alice, task="classification", format=None, files={"train": "tiny_reviews.csv"})
    assert dataset_validate(dataset_id=given.pk).format == "columns"
    guessed = dataset_validate(dataset_id=guessed.pk)
    assert (guessed.status, guessed.format) == ("valid", "csv")
    assert guessed.statistics["splits"]["train"]["labels"] == {"positive": 1, "negative": 1, "neutral": 1}


def test_it_needs_two_examples_to_split_off_a_dev_set(alice):
    dataset = DatasetFactory(owner=alice, task="tagging", format=None, files={"train": "tiny_tagging.jsonl"})
    assert dataset_validate(dataset_id=dataset.pk).status == "valid"
    one = dataset_create(owner=alice, name="one", task="tagging", train=ContentFile(b"EU B-ORG\n", name="one.txt"),
                         queue_validation=False)
    one = dataset_validate(dataset_id=one.pk)
    assert (one.status, one.error_file, one.error_line) == ("invalid", "train", None)
    assert "at least 2" in one.error


def test_it_marks_a_dataset_invalid_when_its_validation_crashes(alice):
    dataset = DatasetFactory(owner=alice)
    validate_dataset.on_failure(MemoryError("out of memory"), "task-id", (dataset.pk,), {}, None)
    dataset.refresh_from_db()
    assert dataset.status == "invalid"
    assert dataset.error == "validation stopped unexpectedly: MemoryError: out of memory"


def test_it_removes_the_files_it_stored_when_a_later_one_fails(alice, media_root, monkeypatch):
    save = FileSystemStorage._save

    def fail_on_dev(storage, name, content):
        if "/dev" in name:
            raise OSError(28, "No space left on device")
        return save(storage, name, content)
    monkeypatch.setattr(FileSystemStorage, "_save", fail_on_dev)
    with pytest.raises(OSError, match="No space"):
        dataset_create(owner=alice, name="full disk", task="tagging", train=ContentFile(b"a B\n\nb C\n", name="t.txt"),
                       dev=ContentFile(b"a B\n", name="d.txt"))
    assert not Dataset.objects.exists()
    assert not any(path.is_file() for path in media_root.rglob("*"))


def test_it_keeps_only_a_short_plain_extension_of_the_clients_file_name(alice):
    dataset = dataset_create(owner=alice, name="names", task="tagging",
                             train=ContentFile(b"a B\n", name="../../etc/evil name.CONLL"),
                             dev=ContentFile(b"a B\n", name="dev.tar.gz;rm -rf"), queue_validation=False)
    assert Path(dataset.train.name).as_posix() == f"datasets/{dataset.pk}/train.conll"
    assert Path(dataset.dev.name).as_posix() == f"datasets/{dataset.pk}/dev"


def test_it_sends_a_dataset_pending_too_long_for_validation_again(alice, monkeypatch, settings):
    # Its message was lost (a broker restarted without persistence) or never sent (the broker was down at upload).
    settings.DATASET_PENDING_RESEND_SECONDS = 300
    sent: list[int] = []
    monkeypatch.setattr(validate_dataset, "delay", sent.append)
    lost, fresh, valid = DatasetFactory(owner=alice), DatasetFactory(owner=alice), DatasetFactory(owner=alice)
    dataset_validate(dataset_id=valid.pk)
    long_ago = timezone.now() - timedelta(seconds=301)
    Dataset.objects.filter(pk__in=[lost.pk, valid.pk]).update(updated=long_ago)

    assert datasets_resend_pending() == [lost.pk]

    assert sent == [lost.pk]
    lost.refresh_from_db()
    assert lost.status == "pending" and lost.updated > long_ago     # the next sending waits as long again
    assert datasets_resend_pending() == []
    assert sorted(datasets_resend_pending(older_than=timedelta(0))) == sorted([lost.pk, fresh.pk])


def test_it_keeps_a_pending_dataset_for_the_next_pass_when_the_broker_refuses(alice, monkeypatch, caplog):
    def refuse(dataset_id):
        raise OSError("broker down")
    monkeypatch.setattr(validate_dataset, "delay", refuse)
    dataset = DatasetFactory(owner=alice)
    assert datasets_resend_pending(older_than=timedelta(0)) == []
    assert f"dataset {dataset.pk} could not be sent for validation again" in caplog.text
