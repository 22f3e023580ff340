"""Tests for the error answers of rnnservice/api.py and rnnservice/logins.py, each a bug schemathesis found
(tests/test_schema_fuzz.py): JSON errors under /api/, documented in the schema, and inputs refused that DRF
would have taken quietly."""
from __future__ import annotations

import json

import pytest
from django.db import OperationalError

from apps.registry.models import RegisteredModel
from rnnservice.api import server_error
from tests.factories import DatasetFactory


@pytest.fixture
def schema(client, db) -> dict:
    return client.get("/api/schema/", {"format": "json"}).json()


@pytest.mark.parametrize("url", ["/api/datasets/x/", "/api/models/%C3%A6/", "/api/nothing-here/"])
def test_it_answers_json_for_an_api_url_no_route_matches(api, url):
    response = api.get(url)
    assert (response.status_code, response["Content-Type"], response.json()) == (
        404, "application/json", {"detail": "Not found."})


def test_it_leaves_pages_outside_the_api_to_django(client, db):
    response = client.get("/nowhere/")
    assert response.status_code == 404 and response["Content-Type"].startswith("text/html")


@pytest.mark.parametrize("page_size", ["abc", "0", "-1", "2.5", "null"])
def test_it_refuses_a_page_size_that_is_not_a_whole_number(api, page_size):
    response = api.get("/api/datasets/", {"page_size": page_size})
    assert response.status_code == 400
    assert response.data["field"] == "page_size" and "whole number from 1 to 500" in response.data["detail"]


def test_it_caps_a_large_page_size(api, alice):
    DatasetFactory(owner=alice)
    assert api.get("/api/datasets/", {"page_size": "100000"}).data["count"] == 1


@pytest.mark.parametrize(("url", "body", "field"), [
    ("/api/training-jobs/", {"dataset": 1, "model_name": 12}, "model_name"),
    ("/api/models/sentiment/aliases/", {"alias": 7, "version": 1}, "alias"),
    ("/api/models/sentiment/", {"description": 1.5}, "description"),
])
def test_it_refuses_a_number_where_a_string_belongs(api, alice, make_version, url, body, field):
    make_version(alice)
    send = api.patch if url == "/api/models/sentiment/" else api.post
    response = send(url, body, format="json")
    assert response.status_code == 400
    body = response.json()
    assert {"detail": f"{field}: Not a valid string.", "field": field} in body.get("errors", [body])


def test_it_patches_only_what_is_given_and_refuses_what_cannot_change(api, alice, make_version):
    make_version(alice)
    RegisteredModel.objects.filter(name="sentiment").update(description="kept")
    unchanged = api.patch("/api/models/sentiment/", {}, format="json")
    assert (unchanged.status_code, unchanged.data["description"]) == (200, "kept")
    renamed = api.patch("/api/models/sentiment/", {"name": "renamed"}, format="json")
    assert renamed.status_code == 400
    assert renamed.json() == {"detail": "name: cannot be changed; the fields you may change are description",
                              "field": "name"}


def test_the_token_endpoint_ignores_a_stale_token(client, alice):
    response = client.post("/api/auth/token/", {"username": "alice", "password": "password"},
                           content_type="application/json", headers={"Authorization": "Token no-longer-valid"})
    assert response.status_code == 200                             # it was a 401: "Invalid token."


def test_the_schema_describes_each_operations_error_answers(schema):
    paths = schema["paths"]
    assert set(paths["/api/datasets/{id}/"]["get"]["responses"]) == {"200", "401", "404", "503"}
    assert set(paths["/api/datasets/{id}/"]["delete"]["responses"]) == {"204", "400", "401", "403", "404", "409",
                                                                        "503"}
    predict = paths["/api/models/{name}/predict/"]["post"]["responses"]
    assert set(predict) == {"200", "400", "401", "403", "404", "415", "429", "503"}
    assert predict["429"]["headers"]["Retry-After"]["required"] is True
    token = paths["/api/auth/token/"]["post"]
    assert set(token["responses"]) == {"200", "400", "415", "429", "503"} and "security" not in token
    components = schema["components"]["schemas"]
    assert components["Error"]["required"] == ["detail"]
    assert components["ModelVersion"]["properties"]["dataset"]["type"] == ["integer", "null"]   # SET_NULL


def test_a_bug_under_the_api_answers_json_and_elsewhere_a_page(rf):
    api, admin = server_error(rf.get("/api/models/")), server_error(rf.get("/admin/"))
    assert (api.status_code, json.loads(api.content)) == (500, {"detail": "Internal server error."})
    assert admin.status_code == 500 and admin["Content-Type"].startswith("text/html")


def test_an_unreachable_database_outside_the_api_views_is_a_503_with_retry_after(rf):
    # Django calls handler500 inside its `except`; an admin page or a middleware that loses the database lands here.
    try:
        raise OperationalError("connection to server at 127.0.0.1, port 5432 failed: Connection refused")
    except OperationalError:
        api, admin = server_error(rf.get("/api/models/")), server_error(rf.get("/admin/"))
    assert (api.status_code, json.loads(api.content)["unavailable"], api["Retry-After"]) == (503, "database", "5")
    assert (admin.status_code, admin["Retry-After"]) == (503, "5") and admin["Content-Type"].startswith("text/html")
    assert b"The database cannot be reached" in admin.content
