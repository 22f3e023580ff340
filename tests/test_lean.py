"""Tests for rnnservice/lean.py through the endpoint that uses it (predict): the answers DRF's full request cycle
gave, kept, and the same bytes for a success."""
from __future__ import annotations

import pytest
from django.test import Client
from rest_framework.authtoken.models import Token
from rest_framework.renderers import JSONRenderer

from rnnservice.lean import json_response

PREDICT = "/api/models/sentiment/predict/"


def test_it_writes_the_bytes_drfs_renderer_writes():
    data = {"model": "naïve", "outputs": [{"label": "a\u2028b\u2029", "probabilities": {"é": 0.25, "x": 1e-9}}],
            "version": 3, "none": None, "flag": True}
    response = json_response(data)
    assert response.content == JSONRenderer().render(data)
    assert (response.status_code, response["Content-Type"]) == (200, "application/json")


def test_it_refuses_nan_as_drfs_renderer_does():
    with pytest.raises(ValueError):
        json_response({"score": float("nan")})


def test_it_answers_a_token_without_a_csrf_token_and_refuses_a_session_without_one(alice, make_version):
    make_version(alice)
    body = {"inputs": ["fine ."]}
    session = Client(enforce_csrf_checks=True)
    session.force_login(alice)
    refused = session.post(PREDICT, body, content_type="application/json")
    assert refused.status_code == 403 and "CSRF" in refused.json()["detail"]
    key = Token.objects.create(user=alice).key
    token = Client(enforce_csrf_checks=True, HTTP_AUTHORIZATION=f"Bearer {key}")
    assert token.post(PREDICT, body, content_type="application/json").json()["model"] == "sentiment"


def test_it_answers_errors_in_the_one_shape_with_their_headers(api, client, alice, make_version):
    make_version(alice)
    anonymous = client.post(PREDICT, {"inputs": ["fine ."]}, content_type="application/json")
    assert (anonymous.status_code, anonymous["WWW-Authenticate"]) == (401, "Token")
    assert anonymous.json() == {"detail": "Authentication credentials were not provided."}
    assert api.get(PREDICT).json() == {"detail": 'Method "GET" not allowed.'}
    assert api.options(PREDICT).status_code == 405
    form = api.post(PREDICT, "inputs=x", content_type="text/plain")
    assert (form.status_code, form.json()["detail"]) == (
        415, 'Unsupported media type "text/plain" in request; this endpoint takes application/json')
    missing = api.post(PREDICT, {}, format="json")
    assert (missing.status_code, missing.json()) == (
        400, {"detail": "inputs: This field is required.", "field": "inputs"})
