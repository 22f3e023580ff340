"""Numbers past what the database stores, in a route or a body: a 404 or a 400 naming the field, never a 500 (a
query that overflows)."""
from __future__ import annotations

import pytest

HUGE = 2**63


@pytest.mark.parametrize("path", ["/api/datasets/{}/", "/api/training-jobs/{}/", "/api/training-jobs/{}/cancel/"])
@pytest.mark.parametrize("number", [HUGE, 10**30])
def test_it_answers_404_for_an_id_past_any_row(api, path, number):
    method = api.post if path.endswith("cancel/") else api.get
    response = method(path.format(number))
    assert response.status_code == 404 and response.json() == {"detail": "Not found."}


@pytest.mark.parametrize(("url", "body", "field"), [
    ("/api/models/sentiment/predict/", {"inputs": ["fun ."], "version": HUGE}, "version"),
    ("/api/models/sentiment/evaluate/", {"dataset": 1, "version": HUGE}, "version"),
    ("/api/models/sentiment/evaluate/", {"dataset": HUGE}, "dataset"),
    ("/api/models/sentiment/aliases/", {"alias": "production", "version": HUGE}, "version"),
    ("/api/training-jobs/", {"dataset": HUGE, "model_name": "m"}, "dataset"),
    ("/api/training-jobs/", {"dataset": str(10**30), "model_name": "m"}, "dataset"),
])
def test_it_refuses_a_number_in_a_body_past_what_is_stored_naming_the_field(api, alice, make_version, url, body,
                                                                             field):
    make_version(alice)                                    # sentiment, version 1
    response = api.post(url, body, format="json")
    assert response.status_code == 400, response.content
    assert response.json()["field"] == field
