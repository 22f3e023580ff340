"""Tests for rnnservice/parsers.py: request bodies bounded in size and JSON depth on every JSON endpoint, the token
endpoint included, each refusal a 400 that names its setting."""
from __future__ import annotations

import json

import pytest

from apps.training.models import TrainingJob
from rnnservice.parsers import json_depth

TOKEN_URL = "/api/auth/token/"


def nested(levels: int) -> str:
    return "[" * levels + "]" * levels


@pytest.mark.parametrize(("text", "depth"), [
    ("1", 0), ('"[[[{"', 0), ("[]", 1), ('{"a": [1, {"b": []}]}', 4), ('["\\"[[", ["]"]]', 2),
    (nested(1000), 1000),
])
def test_it_measures_nesting_without_counting_brackets_in_strings(text, depth):
    assert json_depth(text.encode()) == depth


def assert_limit(response, setting: str, maximum: int) -> dict:
    assert response.status_code == 400, response.content
    body = response.json()
    assert (body["limit"], body["maximum"]) == (setting, maximum)
    assert setting in body["detail"]
    return body


def test_it_refuses_deep_json_at_the_token_endpoint_with_a_400_naming_the_limit(client, db, settings):
    settings.RNNSERVICE_MAX_JSON_DEPTH = 32
    response = client.post(TOKEN_URL, nested(1000), content_type="application/json")
    body = assert_limit(response, "RNNSERVICE_MAX_JSON_DEPTH", 32)
    assert body["value"] == 1000 and "nesting depth" in body["detail"]


def test_it_refuses_deep_json_when_launching_a_job_and_saves_nothing(api, settings):
    settings.RNNSERVICE_MAX_JSON_DEPTH = 5
    body = {"dataset": 1, "model_name": "deep", "training": {"a": {"b": {"c": {"d": {"e": 1}}}}}}
    response = api.post("/api/training-jobs/", json.dumps(body), content_type="application/json")
    assert assert_limit(response, "RNNSERVICE_MAX_JSON_DEPTH", 5)["value"] == 6
    assert not TrainingJob.objects.exists()


def test_it_still_parses_json_within_the_depth(client, alice, settings):
    settings.RNNSERVICE_MAX_JSON_DEPTH = 1
    response = client.post(TOKEN_URL, {"username": "alice", "password": "password"}, content_type="application/json")
    assert response.status_code == 200 and response.json()["token"]


@pytest.mark.parametrize("content_type", ["application/json", "application/x-www-form-urlencoded"])
def test_it_refuses_a_body_over_the_size_limit_naming_it(client, db, settings, content_type):
    settings.RNNSERVICE_MAX_BODY_BYTES = 1000
    payload = (json.dumps({"username": "x" * 2000, "password": "p"}) if content_type == "application/json"
               else f"username={'x' * 2000}&password=p")
    response = client.post(TOKEN_URL, payload, content_type=content_type)
    body = assert_limit(response, "RNNSERVICE_MAX_BODY_BYTES", 1000)
    assert body["value"] == len(payload) and "request body" in body["detail"]


def test_it_names_djangos_own_limit_for_an_upload_form_too_large(api, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 100
    response = api.post("/api/datasets/", {"name": "n" * 500, "task": "tagging"})
    assert_limit(response, "DATA_UPLOAD_MAX_MEMORY_SIZE", 100)
