"""Tests for POST /api/models/{name}/evaluate/: scoring a version on an uploaded dataset's test (or dev) file."""
from __future__ import annotations

import pytest

from apps.datasets.models import Dataset
from apps.datasets.services import dataset_validate
from tests.datasets.helpers import upload
from tests.factories import DatasetFactory

URL = "/api/models/{}/evaluate/"
UPLOADS = {
    "tagging": ("ner", {"train": "tiny_ner.txt", "test": "tiny_ner.txt"}, {"accuracy", "macro_f1", "entity_f1"}),
    "classification": ("sentiment", {"train": "tiny_sst.tsv", "test": "tiny_sst.tsv"}, {"accuracy", "macro_f1"}),
    "translation": ("de-en", {"train": "tiny.de", "train_target": "tiny.en", "test": "tiny.de",
                              "test_target": "tiny.en"}, {"bleu", "chrf"}),
    "generation": ("surnames", {"train": "tiny_names.csv", "test": "tiny_names.csv"}, {"bits_per_char", "perplexity"}),
}


def uploaded(client, task: str, files: dict[str, str], name: str = "scored") -> Dataset:
    """A dataset uploaded over the API and validated, as a worker would."""
    response = upload(client, name=name, task=task, files=files)
    assert response.status_code == 201, response.json()
    dataset = dataset_validate(dataset_id=response.json()["id"])
    assert dataset.status == "valid", dataset.error
    return dataset


@pytest.mark.parametrize("task", UPLOADS)
def test_it_scores_a_version_on_an_uploaded_test_file(api, alice, make_version, task):
    name, files, metrics = UPLOADS[task]
    make_version(alice, task=task)
    dataset = uploaded(api, task, files)
    response = api.post(URL.format(name), {"dataset": dataset.pk}, format="json")
    assert response.status_code == 200, response.json()
    body = response.json()
    assert (body["model"], body["version"], body["dataset"], body["split"]) == (name, 1, dataset.pk, "test")
    assert body["examples"] == dataset.statistics["splits"]["test"]["examples"]
    assert set(body["metrics"]) == metrics
    assert all(isinstance(value, float) for value in body["metrics"].values())


def test_it_falls_back_to_the_dev_file_and_says_so(api, alice, make_version):
    make_version(alice)
    dev_only = uploaded(api, "classification", {"train": "tiny_sst.tsv", "dev": "tiny_sst.tsv"}, name="dev only")
    response = api.post(URL.format("sentiment"), {"dataset": dev_only.pk}, format="json")
    assert (response.status_code, response.json()["split"]) == (200, "dev")
    both = uploaded(api, "classification", {"train": "tiny_sst.tsv", "dev": "tiny_sst.tsv",
                                            "test": "tiny_sst.tsv"}, name="both")
    response = api.post(URL.format("sentiment"), {"dataset": both.pk, "split": "dev"}, format="json")
    assert (response.status_code, response.json()["split"]) == (200, "dev")


def test_it_scores_the_version_or_alias_asked_for(api, alice, make_version):
    make_version(alice)
    make_version(alice)
    dataset = uploaded(api, "classification", {"train": "tiny_sst.tsv", "test": "tiny_sst.tsv"})
    api.post("/api/models/sentiment/aliases/", {"alias": "production", "version": 1}, format="json")
    for body, number in (({}, 1), ({"version": 2}, 2), ({"alias": "production"}, 1)):
        response = api.post(URL.format("sentiment"), {"dataset": dataset.pk, **body}, format="json")
        assert (response.status_code, response.json()["version"]) == (200, number)


def test_it_chooses_the_version_as_predict_does(api, alice, make_version):
    make_version(alice)
    make_version(alice)
    dataset = uploaded(api, "classification", {"train": "tiny_sst.tsv", "test": "tiny_sst.tsv"})
    api.post("/api/models/sentiment/aliases/", {"alias": "production", "version": 1}, format="json")
    for body in ({}, {"version": 2}, {"alias": "production"}, {"version": 9}, {"alias": "canary"}):
        scored = api.post(URL.format("sentiment"), {"dataset": dataset.pk, **body}, format="json")
        predicted = api.post("/api/models/sentiment/predict/", {"inputs": ["fine ."], **body}, format="json")
        assert scored.status_code == predicted.status_code
        assert scored.json().get("version") == predicted.json().get("version")
        assert scored.json().get("detail") == predicted.json().get("detail")


def test_it_names_the_file_and_line_of_a_label_the_model_never_saw(api, alice, make_version):
    make_version(alice)
    dataset = uploaded(api, "classification", {"train": "tiny_sst.tsv", "test": "unseen_label.tsv"})
    response = api.post(URL.format("sentiment"), {"dataset": dataset.pk}, format="json")
    assert response.status_code == 400
    assert (response.json()["file"], response.json()["line"]) == ("test", 4)
    assert response.json()["detail"].startswith("test, line 4: label '2' was never seen in training")
    assert "/" not in response.json()["detail"]                      # no server paths


def test_it_refuses_datasets_it_cannot_score(api, alice, bob, make_version, settings):
    make_version(alice)
    bobs = DatasetFactory(owner=bob, task="classification", format="tsv", files={"train": "tiny_sst.tsv",
                                                                                 "test": "tiny_sst.tsv"})
    dataset_validate(dataset_id=bobs.pk)
    pending = DatasetFactory(owner=alice, task="classification", format="tsv", files={"train": "tiny_sst.tsv"})
    invalid = uploaded(api, "classification", {"train": "tiny_sst.tsv"}, name="soon invalid")
    Dataset.objects.filter(pk=invalid.pk).update(status="invalid")
    tagging = uploaded(api, "tagging", {"train": "tiny_ner.txt", "test": "tiny_ner.txt"}, name="tags")
    train_only = uploaded(api, "classification", {"train": "tiny_sst.tsv"}, name="train only")
    cases = [
        ({"dataset": bobs.pk}, "dataset", f"no dataset {bobs.pk}"),
        ({"dataset": 999}, "dataset", "no dataset 999"),
        ({"dataset": pending.pk}, "dataset", "is pending; only a valid dataset"),
        ({"dataset": invalid.pk}, "dataset", "is invalid; only a valid dataset"),
        ({"dataset": tagging.pk}, "dataset", "holds tagging data; the model does classification"),
        ({"dataset": train_only.pk}, "split", "has no test or dev file to score on"),
        ({"dataset": train_only.pk, "split": "dev"}, "split", "has no dev file to score on"),
    ]
    for body, field, message in cases:
        response = api.post(URL.format("sentiment"), body, format="json")
        assert response.status_code == 400, (body, response.json())
        assert (response.json()["field"], message in response.json()["detail"]) == (field, True), response.json()
    for body in ({}, {"dataset": "one"}, {"dataset": 1, "split": "train"}, {"dataset": 1, "version": 0}):
        response = api.post(URL.format("sentiment"), body, format="json")
        assert response.status_code == 400, (body, response.json())


def test_it_refuses_a_split_over_the_example_limit(api, alice, make_version, settings):
    make_version(alice)
    dataset = uploaded(api, "classification", {"train": "tiny_sst.tsv", "test": "tiny_sst.tsv"})
    settings.SERVING_MAX_EVALUATE_EXAMPLES = 3
    response = api.post(URL.format("sentiment"), {"dataset": dataset.pk}, format="json")
    assert response.status_code == 400
    assert (response.json()["limit"], response.json()["value"]) == ("SERVING_MAX_EVALUATE_EXAMPLES", 4)


def test_it_applies_the_decoding_limits_to_evaluation(api, alice, make_version, settings):
    make_version(alice, task="translation")
    dataset = uploaded(api, "translation", UPLOADS["translation"][1])
    settings.SERVING_MAX_BEAM = 2
    response = api.post(URL.format("de-en"), {"dataset": dataset.pk, "options": {"beam_size": 3}}, format="json")
    assert (response.status_code, response.json()["limit"]) == (400, "SERVING_MAX_BEAM")
    response = api.post(URL.format("de-en"), {"dataset": dataset.pk, "options": {"beam_size": 2}}, format="json")
    assert response.status_code == 200


@pytest.mark.parametrize("other", ["bob", "charlie"])
def test_it_hides_other_peoples_models(api, api_as, alice, make_version, request, other):
    make_version(alice)
    dataset = uploaded(api, "classification", {"train": "tiny_sst.tsv", "test": "tiny_sst.tsv"})
    response = api_as(request.getfixturevalue(other)).post(URL.format("sentiment"), {"dataset": dataset.pk},
                                                           format="json")
    assert (response.status_code, response.json()["detail"]) == (404, "no model named 'sentiment'")


def test_it_lets_staff_score_anyones_model_on_anyones_dataset(api, api_as, alice, staff, make_version):
    make_version(alice)
    dataset = uploaded(api, "classification", {"train": "tiny_sst.tsv", "test": "tiny_sst.tsv"})
    response = api_as(staff).post(URL.format("sentiment"), {"dataset": dataset.pk}, format="json")
    assert response.status_code == 200


def test_it_asks_anonymous_clients_to_log_in(client, api, alice, make_version):
    make_version(alice)
    dataset = uploaded(api, "classification", {"train": "tiny_sst.tsv", "test": "tiny_sst.tsv"})
    response = client.post(URL.format("sentiment"), {"dataset": dataset.pk}, content_type="application/json")
    assert response.status_code == 401
