"""Tests for /api/models/: the registry's list, detail, description and aliases, and who sees what."""
from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.registry.models import Alias, RegisteredModel
from apps.training.models import TrainingJob  # here only: the registry itself never imports training
from tests.factories import DatasetFactory


def test_it_lists_your_models_with_their_latest_version_and_aliases(api, alice, bob, make_version):
    make_version(alice, "sentiment")
    make_version(alice, "sentiment")
    make_version(alice, "ner", task="tagging")
    make_version(bob, "bobs")
    api.post("/api/models/sentiment/aliases/", {"alias": "production", "version": 1}, format="json")
    response = api.get("/api/models/")
    assert response.status_code == 200
    assert response.data["count"] == 2
    assert [(m["name"], m["task"], m["owner"], m["latest_version"], m["aliases"]) for m in response.data["results"]] \
        == [("ner", "tagging", "alice", 1, {}), ("sentiment", "classification", "alice", 2, {"production": 1})]


def test_it_shows_a_model_with_every_version(api, alice, make_version):
    dataset = DatasetFactory(owner=alice, task="classification", format="tsv", files={"train": "tiny_sst.tsv"})
    first = make_version(alice, dataset=dataset)
    second = make_version(alice, metrics={"accuracy": 0.75, "macro_f1": 0.7})
    api.post("/api/models/sentiment/aliases/", {"alias": "staging", "version": 2}, format="json")
    response = api.get("/api/models/sentiment/")
    assert response.status_code == 200
    body = response.data
    assert (body["name"], body["task"], body["owner"], body["latest_version"]) == ("sentiment", "classification",
                                                                                  "alice", 2)
    assert body["aliases"] == {"staging": 2}
    versions = body["versions"]
    assert [v["number"] for v in versions] == [2, 1]
    assert versions[0]["sha256"] == second.sha256 and versions[1]["sha256"] == first.sha256
    assert versions[0]["metrics"] == {"accuracy": 0.75, "macro_f1": 0.7}
    assert (versions[0]["dataset"], versions[1]["dataset"]) == (None, dataset.pk)
    assert versions[0]["job"] is None                       # registered directly, not by a training job
    assert (versions[0]["aliases"], versions[1]["aliases"]) == (["staging"], [])
    assert versions[1]["labels"] == ["1", "0"]
    assert versions[1]["config"]["architecture"]["cell"] == "lstm"
    assert versions[1]["split"]["dev"] == "split" and versions[1]["best_epoch"] in (1, 2)
    assert versions[1]["runtime"]["runtime"] in ("torch", "onnx") and versions[1]["runtime"]["onnx"]["checked"]
    assert {"created"} <= set(versions[0])


def test_it_names_the_job_that_produced_a_version_without_a_query_per_version(api, alice, make_version):
    dataset = DatasetFactory(owner=alice, task="classification", format="tsv", files={"train": "tiny_sst.tsv"})
    version = make_version(alice, dataset=dataset)
    job = TrainingJob.objects.create(owner=alice, dataset=dataset, model_name="sentiment", config={},
                                     status="succeeded", version=version)
    with CaptureQueriesContext(connection) as one_version:
        response = api.get("/api/models/sentiment/")
    assert response.data["versions"][0]["job"] == job.pk
    for _ in range(3):
        make_version(alice)
    with CaptureQueriesContext(connection) as four_versions:
        response = api.get("/api/models/sentiment/")
    assert [v["job"] for v in response.data["versions"]] == [None, None, None, job.pk]
    assert len(four_versions.captured_queries) == len(one_version.captured_queries)


def test_it_creates_then_moves_an_alias(api, alice, make_version):
    make_version(alice)
    make_version(alice)
    created = api.post("/api/models/sentiment/aliases/", {"alias": "production", "version": 1}, format="json")
    assert created.status_code == 201
    assert (created.data["model"], created.data["alias"], created.data["version"]) == ("sentiment", "production", 1)
    moved = api.post("/api/models/sentiment/aliases/", {"alias": "production", "version": 2}, format="json")
    assert moved.status_code == 200
    assert moved.data["version"] == 2
    assert Alias.objects.get(name="production").version.number == 2
    assert Alias.objects.count() == 1


def test_it_moves_an_alias_to_a_version_that_changes_its_answers_only_when_confirmed(api, alice, make_version):
    make_version(alice, "sentiment")                                # text, labels 0 and 1
    changed = make_version(alice, "sentiment", series=True)         # numeric series, other labels
    assert changed.signature["input"] == "values"
    api.post("/api/models/sentiment/aliases/", {"alias": "production", "version": 1}, format="json")

    refused = api.post("/api/models/sentiment/aliases/", {"alias": "production", "version": 2}, format="json")

    assert refused.status_code == 409
    assert refused.data["field"] == "confirm"
    assert "the input kind changes from tokens to values" in refused.data["differences"]
    assert refused.data["detail"].startswith("version 2 of 'sentiment' changes what 'production' (version 1) "
                                             "answers: the input kind changes from tokens to values")
    assert Alias.objects.get(name="production").version.number == 1
    moved = api.post("/api/models/sentiment/aliases/", {"alias": "production", "version": 2, "confirm": True},
                     format="json")
    assert (moved.status_code, moved.data["version"]) == (200, 2)
    assert Alias.objects.get(name="production").version.number == 2
    versions = api.get("/api/models/sentiment/").data["versions"]
    assert [v["signature"]["input"] for v in versions] == ["values", "tokens"]


@pytest.mark.parametrize(("body", "field", "text"), [
    ({"alias": "production", "version": 7}, "version", "model 'sentiment' has no version 7"),
    ({"alias": "Prod uction", "version": 1}, "alias", "is not a valid name"),
    ({"alias": "3", "version": 1}, "alias", "is not a valid name"),
    ({"alias": "production"}, "version", "required"),
    ({"alias": "production", "version": "one"}, "version", "valid integer"),
    ({"alias": "production", "version": 0}, "version", "greater than or equal to 1"),
    ({"version": 1}, "alias", "required"),
    ({"alias": ["production"], "version": 1}, "alias", "Not a valid string"),
])
def test_it_refuses_a_bad_alias_request_with_a_400(api, alice, make_version, body, field, text):
    make_version(alice)
    response = api.post("/api/models/sentiment/aliases/", body, format="json")
    assert response.status_code == 400
    message = response.data["detail"] if "detail" in response.data else str(response.data[field])
    assert text in message
    if "detail" in response.data:
        assert response.data["field"] == field
    assert not Alias.objects.exists()


def test_it_changes_the_description(api, alice, make_version):
    make_version(alice)
    response = api.patch("/api/models/sentiment/", {"description": "SST-2, word LSTM"}, format="json")
    assert response.status_code == 200
    assert response.data["description"] == "SST-2, word LSTM"
    assert RegisteredModel.objects.get(name="sentiment").description == "SST-2, word LSTM"
    assert api.patch("/api/models/sentiment/", {"name": "renamed"}, format="json").status_code == 400
    assert RegisteredModel.objects.get().name == "sentiment"


@pytest.mark.parametrize("other", ["bob", "charlie"])
def test_it_hides_other_peoples_models(api_as, alice, bob, make_version, request, other):
    make_version(alice)
    make_version(bob, "bobs")
    client = api_as(request.getfixturevalue(other))
    names = [model["name"] for model in client.get("/api/models/").data["results"]]
    assert "sentiment" not in names and names == (["bobs"] if other == "bob" else [])
    detail = client.get("/api/models/sentiment/")
    assert (detail.status_code, detail.data["detail"]) == (404, "no model named 'sentiment'")
    assert client.patch("/api/models/sentiment/", {"description": "mine"}, format="json").status_code == 404
    alias = client.post("/api/models/sentiment/aliases/", {"alias": "production", "version": 1}, format="json")
    assert alias.status_code == 404
    assert not Alias.objects.exists()
    assert RegisteredModel.objects.get(name="sentiment").description == ""


def test_it_shows_staff_every_model_and_lets_them_promote(api_as, alice, bob, staff, make_version):
    make_version(alice)
    make_version(bob, "bobs")
    client = api_as(staff)
    assert [model["name"] for model in client.get("/api/models/").data["results"]] == ["bobs", "sentiment"]
    assert client.get("/api/models/bobs/").status_code == 200
    response = client.post("/api/models/bobs/aliases/", {"alias": "production", "version": 1}, format="json")
    assert response.status_code == 201
    assert Alias.objects.get().model.name == "bobs"


def test_it_asks_anonymous_clients_to_log_in(client, alice, make_version):
    make_version(alice)
    for response in (client.get("/api/models/"), client.get("/api/models/sentiment/"),
                     client.post("/api/models/sentiment/aliases/", {"alias": "production", "version": 1},
                                 content_type="application/json")):
        assert response.status_code == 401
        assert response.headers["WWW-Authenticate"] == "Token"
    assert not Alias.objects.exists()


def test_it_documents_the_registry_and_serving_endpoints(client, db):
    paths = client.get("/api/schema/", {"format": "json"}).json()["paths"]
    assert {"/api/models/", "/api/models/{name}/", "/api/models/{name}/aliases/", "/api/models/{name}/predict/",
            "/api/models/{name}/evaluate/"} <= set(paths)
