"""Tests for /api/datasets/: upload, validation results, limits, and who sees what."""
from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from kombu.exceptions import OperationalError

from apps.datasets.models import Dataset
from apps.datasets.tasks import validate_dataset
from tests.datasets.helpers import run_queued_validations, upload
from tests.factories import DATA, DatasetFactory

VALID_UPLOADS = {
    "conllu": ("tagging", {"train": "tiny.conllu", "dev": "tiny.conllu"}, "conllu",
               {"examples": 2, "tokens": 11, "labels": {"VERB": 2, "PROPN": 2, "NOUN": 2, "PRON": 1, "AUX": 1,
                                                          "PART": 1, "PUNCT": 1, "CCONJ": 1}}),
    "columns": ("tagging", {"train": "tiny_ner.txt"}, "columns",
                {"examples": 3, "tokens": 8, "labels": {"O": 3, "B-ORG": 1, "B-MISC": 1, "B-PER": 1, "I-PER": 1,
                                                        "B-LOC": 1}}),
    "tsv": ("classification", {"train": "tiny_sst.tsv"}, "tsv",
            {"examples": 4, "tokens": 31, "labels": {"1": 2, "0": 2}}),
    "aligned": ("translation", {"train": "tiny.de", "train_target": "tiny.en"}, "parallel",
                {"examples": 3, "tokens": 19, "target_tokens": 20}),
}


@pytest.mark.parametrize("kind", VALID_UPLOADS)
def test_it_stores_an_upload_and_validates_it(api, alice, media_root, django_capture_on_commit_callbacks, kind):
    task, files, format, expected = VALID_UPLOADS[kind]
    with django_capture_on_commit_callbacks() as callbacks:
        response = upload(api, name=f"tiny {kind}", task=task, files=files)
    assert response.status_code == 201, response.data
    assert response.data["status"] == "pending"
    dataset = Dataset.objects.get(pk=response.data["id"])
    assert (dataset.owner, dataset.name, dataset.task, dataset.status) == (alice, f"tiny {kind}", task, "pending")
    for field, filename in files.items():
        stored = Path(getattr(dataset, field).path)
        assert stored.parent == media_root / "datasets" / str(dataset.pk)
        assert stored.name == field + Path(filename).suffix          # our name, never the client's
        assert dataset.sha256[field] == hashlib.sha256((DATA / filename).read_bytes()).hexdigest()

    assert run_queued_validations(callbacks) == [dataset.pk]

    dataset.refresh_from_db()
    assert (dataset.status, dataset.format, dataset.error) == ("valid", format, "")
    train = dataset.statistics["splits"]["train"]
    assert {key: train[key] for key in expected} == expected
    assert set(train["length"]) == {"p50", "p90", "p99", "max"}
    detail = api.get(f"/api/datasets/{dataset.pk}/")
    assert detail.status_code == 200
    assert detail.data["status"] == "valid"
    assert detail.data["statistics"] == dataset.statistics


def test_it_records_the_seeded_split_when_there_is_no_dev_file(api, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks() as callbacks:
        response = upload(api, task="classification", files={"train": "tiny_sst.tsv"})
    run_queued_validations(callbacks)
    dataset = Dataset.objects.get(pk=response.data["id"])
    assert response.status_code == 201
    assert dataset.statistics["dev_split"] == {"dev": "split", "dev_fraction": 0.1, "split_seed": 13}
    assert set(dataset.statistics["splits"]) == {"train"}


def test_it_records_a_given_dev_and_test_file(api, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks() as callbacks:
        response = upload(api, task="tagging", format="columns",
                          files={"train": "tiny_ner.txt", "dev": "tiny_ner.txt", "test": "tiny_ner.txt"})
    run_queued_validations(callbacks)
    dataset = Dataset.objects.get(pk=response.data["id"])
    assert response.status_code == 201
    assert dataset.status == "valid"
    assert dataset.statistics["dev_split"] == {"dev": "given"}
    assert set(dataset.statistics["splits"]) == {"train", "dev", "test"}


def test_it_keeps_an_upload_pending_when_the_broker_is_down(api, monkeypatch, caplog,
                                                             django_capture_on_commit_callbacks):
    def broker_down(*args):
        raise OperationalError("[Errno 111] Connection refused")
    monkeypatch.setattr(validate_dataset, "delay", broker_down)
    with django_capture_on_commit_callbacks(execute=True):
        response = upload(api)
    assert response.status_code == 201
    assert Dataset.objects.get(pk=response.data["id"]).status == "pending"
    assert "Connection refused" in caplog.text


@pytest.mark.parametrize(("task", "files", "error_file", "line", "problem"), [
    ("tagging", {"train": "ragged.txt"}, "train", 3, "ragged row"),
    ("classification", {"train": "tiny_sst.tsv", "dev": "empty_label.tsv"}, "dev", 3, "the label is empty"),
    ("translation", {"train": "mismatch.en", "train_target": "mismatch.de"}, "train_target", 3,
     "train has 2 lines but train_target has 3"),
    ("tagging", {"train": "tiny.conllu", "test": "conllu_bad_id.conllu"}, "test", 3, "is not a number"),
])
def test_it_marks_a_broken_file_invalid_with_its_split_and_line(api, media_root, django_capture_on_commit_callbacks,
                                                                 task, files, error_file, line, problem):
    with django_capture_on_commit_callbacks() as callbacks:
        response = upload(api, task=task, files=files)
    assert response.status_code == 201
    run_queued_validations(callbacks)
    dataset = Dataset.objects.get(pk=response.data["id"])
    assert (dataset.status, dataset.error_file, dataset.error_line) == ("invalid", error_file, line)
    assert problem in dataset.error
    assert str(media_root) not in dataset.error                  # the server's paths stay on the server
    detail = api.get(f"/api/datasets/{dataset.pk}/").data
    assert (detail["status"], detail["error_file"], detail["error_line"]) == ("invalid", error_file, line)


@pytest.mark.parametrize(("setting", "value"), [("RNNSERVICE_MAX_UPLOAD_BYTES", 100),
                                                ("RNNSERVICE_MAX_UPLOAD_LINES", 5)])
def test_it_refuses_a_file_over_a_limit_and_stores_nothing(api, settings, media_root, setting, value):
    setattr(settings, setting, value)
    response = upload(api, files={"train": "tiny_ner.txt", "dev": "tiny.conllu"})
    assert response.status_code == 400
    assert response.data["limit"] == setting
    assert response.data["maximum"] == value
    assert response.data["field"] == "train"
    assert setting in response.data["detail"]
    assert not Dataset.objects.exists()
    assert not media_root.exists() or not any(media_root.rglob("*.*"))


@pytest.mark.parametrize(("fields", "files", "field"), [
    ({"task": "classification", "format": "conllu"}, {"train": "tiny.conllu"}, "format"),
    ({"task": "tagging"}, {"train": "tiny.conllu", "train_target": "tiny.en"}, "train_target"),
    ({"task": "translation"}, {"train": "tiny.de", "train_target": "tiny.en", "dev": "tiny.de"}, "dev_target"),
    ({"task": "translation", "format": "tsv"}, {"train": "tiny.de", "train_target": "tiny.en"}, "format"),
])
def test_it_refuses_files_that_do_not_fit_the_task(api, fields, files, field):
    response = upload(api, files=files, **fields)
    assert response.status_code == 400
    assert response.data["field"] == field
    assert not Dataset.objects.exists()


def test_it_refuses_a_request_without_a_training_file_or_with_an_unknown_task(api):
    missing = api.post("/api/datasets/", {"name": "x", "task": "tagging"}, format="multipart")
    assert missing.json() == {"detail": "train: No file was submitted.", "field": "train"}
    response = upload(api, task="summarization")
    assert response.status_code == 400
    assert response.json()["field"] == "task"
    assert not Dataset.objects.exists()


def test_it_refuses_a_name_the_owner_already_uses(api, alice, bob):
    DatasetFactory(owner=alice, name="tiny")
    DatasetFactory(owner=bob, name="mine")
    response = upload(api, name="tiny")
    assert response.status_code == 400
    assert response.data["field"] == "name"
    assert Dataset.objects.filter(owner=alice).count() == 1
    assert upload(api, name="mine").status_code == 201            # names are per owner
    assert Dataset.objects.filter(name="mine").count() == 2


def test_it_lists_only_your_own_datasets(api, alice, bob):
    mine = DatasetFactory(owner=alice)
    DatasetFactory(owner=bob)
    response = api.get("/api/datasets/")
    assert response.status_code == 200
    assert response.data["count"] == 1
    assert [item["id"] for item in response.data["results"]] == [mine.pk]
    assert response.data["results"][0]["owner"] == "alice"


@pytest.mark.parametrize("other", ["bob", "charlie"])
def test_it_hides_other_peoples_datasets(api_as, alice, request, other):
    dataset = DatasetFactory(owner=alice)
    client = api_as(request.getfixturevalue(other))
    assert client.get("/api/datasets/").data["count"] == 0
    assert client.get(f"/api/datasets/{dataset.pk}/").status_code == 404
    assert client.delete(f"/api/datasets/{dataset.pk}/").status_code == 404
    assert Dataset.objects.filter(pk=dataset.pk).exists()
    assert Path(dataset.train.path).exists()


def test_it_shows_staff_every_dataset(api_as, alice, bob, staff):
    datasets = {DatasetFactory(owner=alice).pk, DatasetFactory(owner=bob).pk}
    client = api_as(staff)
    response = client.get("/api/datasets/")
    assert response.status_code == 200
    assert {item["id"] for item in response.data["results"]} == datasets
    assert all(client.get(f"/api/datasets/{pk}/").status_code == 200 for pk in datasets)


def test_it_deletes_the_row_and_the_files(api, alice, media_root, django_capture_on_commit_callbacks):
    dataset = DatasetFactory(owner=alice, files={"train": "tiny.conllu", "dev": "tiny.conllu"})
    folder = Path(dataset.train.path).parent
    with django_capture_on_commit_callbacks(execute=True):
        response = api.delete(f"/api/datasets/{dataset.pk}/")
    assert response.status_code == 204
    assert not Dataset.objects.filter(pk=dataset.pk).exists()
    assert not folder.exists()


def test_it_pages_the_list(api, alice):
    for _ in range(3):
        DatasetFactory(owner=alice)
    response = api.get("/api/datasets/", {"page_size": 2})
    assert response.status_code == 200
    assert (response.data["count"], len(response.data["results"])) == (3, 2)
    assert response.data["next"]


def test_it_asks_anonymous_clients_to_log_in(client, alice):
    dataset = DatasetFactory(owner=alice)
    for method, url in [("get", "/api/datasets/"), ("post", "/api/datasets/"),
                        ("get", f"/api/datasets/{dataset.pk}/"), ("delete", f"/api/datasets/{dataset.pk}/")]:
        response = getattr(client, method)(url)
        assert response.status_code == 401, (method, url)
        assert response["WWW-Authenticate"] == "Token"
    assert Dataset.objects.filter(pk=dataset.pk).exists()
