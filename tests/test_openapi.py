"""Tests for tests/openapi.py, the check every /api/ answer of the suite goes through: it must be able to fail."""
from __future__ import annotations

import pytest
from django.http import JsonResponse

from tests.openapi import check_response


def answer(method: str, path: str, status: int, body: dict) -> JsonResponse:
    response = JsonResponse(body, status=status)
    response.request = {"PATH_INFO": path, "REQUEST_METHOD": method}
    return response


def test_it_passes_an_answer_the_schema_describes(db):
    check_response(answer("GET", "/api/datasets/", 200, {"count": 0, "next": None, "previous": None, "results": []}))
    check_response(answer("GET", "/api/models/ner/", 404, {"detail": "no model named 'ner'"}))
    check_response(answer("PUT", "/api/models/ner/", 405, {"detail": 'Method "PUT" not allowed.'}))


@pytest.mark.parametrize(("method", "path", "status", "body", "words"), [
    ("GET", "/api/datasets/", 200, {"count": "none", "next": None, "previous": None, "results": []}, "count"),
    ("GET", "/api/models/ner/", 404, {"ner": ["Not found."]}, "'detail' is a required property"),
    ("POST", "/api/models/ner/predict/", 200, {"task": "tagging", "model": "ner", "version": 1,
                                                "outputs": [{"label": "B-PER"}]}, "refuses"),
    ("GET", "/api/models/ner/", 201, {"name": "ner"}, "201 is not in the schema"),
])
def test_it_fails_an_answer_the_schema_does_not_describe(db, method, path, status, body, words):
    with pytest.raises(AssertionError, match=words):
        check_response(answer(method, path, status, body))
