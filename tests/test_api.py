"""Tests for rnnservice/api.py and the project-wide API routes: token, schema, docs."""
from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import InterfaceError, OperationalError, ProgrammingError
from rest_framework.authtoken.models import Token

from rnnservice.api import exception_handler
from rnnservice.errors import LimitExceeded, ServiceError
from rnnservice.ml.errors import ConfigError, FormatError, MLError


def test_it_turns_service_and_core_errors_into_a_400():
    cases = [
        (ServiceError("no such thing", field="name"), {"detail": "no such thing", "field": "name"}),
        (LimitExceeded("MAX_ITEMS", 12, 10, what="the number of inputs"),
         {"detail": "the number of inputs is 12; the limit is 10 (MAX_ITEMS)", "limit": "MAX_ITEMS", "value": 12,
          "maximum": 10}),
        (FormatError("/srv/media/datasets/3/train.tsv", 4, "ragged row"),
         {"detail": "train.tsv, line 4: ragged row", "file": "train.tsv", "line": 4}),
        (FormatError("/srv/media/datasets/3/train.tsv", 0, "the file is empty"),     # line 0: the whole file
         {"detail": "train.tsv: the file is empty", "file": "train.tsv"}),
        (ConfigError("training.epochs", "must be between 1 and 10000, not 0"),
         {"detail": "training.epochs: must be between 1 and 10000, not 0", "field": "training.epochs"}),
        (MLError("the training data holds no examples"), {"detail": "the training data holds no examples"}),
    ]
    for exc, body in cases:
        response = exception_handler(exc, {})
        assert (response.status_code, response.data) == (400, body)


def test_it_leaves_other_errors_to_drf():
    assert exception_handler(ValueError("a bug"), {}) is None
    assert exception_handler(ProgrammingError("a query of ours is wrong"), {}) is None


def test_it_answers_503_naming_the_database_when_it_cannot_be_reached():
    # tests/faults/test_database_outage.py cuts a real PostgreSQL off from a real web server.
    for exc in (OperationalError("connection refused"), InterfaceError("connection already closed")):
        response = exception_handler(exc, {})
        assert (response.status_code, response.data["unavailable"]) == (503, "database")
        assert response.data["detail"] == "the database cannot be reached; try again in a few seconds"
        assert response["Retry-After"] == "5"


def test_it_hands_out_a_token_for_a_username_and_password(client, alice):
    response = client.post("/api/auth/token/", {"username": "alice", "password": "password"},
                           content_type="application/json")
    assert response.status_code == 200
    assert response.json() == {"token": Token.objects.get(user=alice).key}
    wrong = client.post("/api/auth/token/", {"username": "alice", "password": "guess"},
                        content_type="application/json")
    assert wrong.status_code == 400
    assert wrong.json() == {"detail": "Unable to log in with provided credentials."}
    assert Token.objects.filter(user=alice).count() == 1


def test_it_authenticates_with_the_token_it_handed_out(client, alice):
    token = client.post("/api/auth/token/", {"username": "alice", "password": "password"},
                        content_type="application/json").json()["token"]
    for keyword in ("Token", "Bearer", "bearer"):       # DRF's word, and the one the schema declares
        response = client.get("/api/datasets/", headers={"Authorization": f"{keyword} {token}"})
        assert (response.status_code, response.json()["count"]) == (200, 0)
    wrong = client.get("/api/datasets/", headers={"Authorization": "Bearer not-a-key"})
    assert (wrong.status_code, wrong.json()) == (401, {"detail": "Invalid token."})


def test_the_token_endpoint_takes_json_and_a_form_and_no_other_type(client, alice):
    form = client.post("/api/auth/token/", "username=alice&password=password",
                       content_type="application/x-www-form-urlencoded")
    assert form.status_code == 200
    multipart = client.post("/api/auth/token/", {"username": "alice", "password": "password"})
    assert multipart.status_code == 415
    assert multipart.json()["detail"].endswith("this endpoint takes application/json, "
                                               "application/x-www-form-urlencoded")


def test_it_renders_the_openapi_schema_and_docs(client, db):
    schema = client.get("/api/schema/", {"format": "json"})
    assert schema.status_code == 200
    paths = schema.json()["paths"]
    assert {"/api/datasets/", "/api/datasets/{id}/", "/api/auth/token/"} <= set(paths)
    upload = paths["/api/datasets/"]["post"]["requestBody"]["content"]["multipart/form-data"]["schema"]
    assert upload["$ref"].endswith("/DatasetCreateRequest")
    for page in ("/api/docs/", "/api/redoc/"):
        html = client.get(page).content.decode()
        assert "/static/drf_spectacular_sidecar/" in html
        assert "cdn." not in html                 # a machine without internet access still shows the docs


@pytest.mark.parametrize(("method", "url", "body", "field"), [
    ("post", "/api/models/sentiment/predict/", {"inputs": ["fine"], "bogus": 1}, "bogus"),
    ("post", "/api/models/sentiment/predict/", {"inputs": ["fine"], "versoin": 2}, "versoin"),   # not production
    ("post", "/api/models/sentiment/evaluate/", {"dataset": 1, "splitt": "dev"}, "splitt"),
    ("post", "/api/models/sentiment/aliases/", {"alias": "staging", "version": 1, "force": True}, "force"),
    ("patch", "/api/models/sentiment/", {"description": "x", "task": "tagging"}, "task"),
    ("post", "/api/training-jobs/", {"dataset": 1, "model_name": "x", "epochs": 3}, "epochs"),
])
def test_it_refuses_an_unknown_field_by_name(api, alice, make_version, method, url, body, field):
    make_version(alice)
    response = getattr(api, method)(url, body, format="json")
    assert response.status_code == 400
    assert response.json()["field"] == field and response.json()["detail"].startswith(f"{field}: ")


def test_it_refuses_an_unknown_field_of_an_upload_by_name(api):
    response = api.post("/api/datasets/", {"name": "x", "task": "tagging", "formatt": "conllu",
                                           "train": SimpleUploadedFile("train.conllu", b"1\tA\n")}, format="multipart")
    assert response.json() == {"detail": "formatt: unknown field; the fields are name, task, format, train, "
                                         "train_target, dev, dev_target, test, test_target", "field": "formatt"}


def test_it_answers_one_error_shape_for_several_fields_at_fault(api, alice, make_version):
    make_version(alice)
    response = api.post("/api/models/sentiment/aliases/", {"alias": 1, "version": 0}, format="json")
    assert response.json() == {
        "detail": "alias: Not a valid string (and 1 more: see errors).", "field": "alias",
        "errors": [{"detail": "alias: Not a valid string.", "field": "alias"},
                   {"detail": "version: Ensure this value is greater than or equal to 1.", "field": "version"}]}


def test_it_names_the_index_of_a_list_item_at_fault(api, alice, make_version):
    make_version(alice)
    response = api.post("/api/models/sentiment/predict/", {"inputs": ["fine", None]}, format="json")
    assert response.json() == {"detail": "inputs[1]: This field may not be null.", "field": "inputs", "index": 1}


def test_it_takes_json_only_where_the_schema_says_json(api, alice, make_version):
    make_version(alice)
    response = api.post("/api/models/sentiment/predict/", {"inputs": "fine"})       # multipart, as a form sends
    assert response.status_code == 415
    assert response.json()["detail"].endswith("this endpoint takes application/json")
