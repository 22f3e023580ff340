"""Tests for rnnservice/throttling.py: request rates on the token endpoint (per address) and on prediction (per
user), a 429 with Retry-After in the error shape, and counts shared between processes through the cache."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.test import override_settings

ROOT = Path(__file__).resolve().parents[1]
TOKEN_URL = "/api/auth/token/"


@pytest.fixture(autouse=True)
def fresh_counts():
    """Counts of this test only: a key prefix of its own (a shared Redis holds other runs' counts too)."""
    cache = {**django_settings.CACHES["default"], "KEY_PREFIX": uuid.uuid4().hex}
    with override_settings(CACHES={"default": cache}):
        yield cache

def ask_token(client, password: str, **extra):
    return client.post(TOKEN_URL, {"username": "alice", "password": password}, content_type="application/json",
                       **extra)


def assert_throttled(response, setting: str, window: int) -> None:
    assert response.status_code == 429
    assert 1 <= int(response["Retry-After"]) <= window
    body = response.json()
    assert body == {"detail": body["detail"], "limit": setting, "retry_after": int(response["Retry-After"])}
    assert setting in body["detail"] and "too many requests" in body["detail"]
    # The wait, once: DRF's "Expected available in N seconds." is not added to a message that says it already.
    assert body["detail"].endswith(f"try again in {body['retry_after']} seconds") and "Expected" not in body["detail"]


def test_it_limits_token_requests_per_client_address(client, alice, settings):
    settings.RNNSERVICE_THROTTLE_TOKEN = "3/min"
    guesses = [ask_token(client, f"guess{n}") for n in range(3)]
    assert [response.status_code for response in guesses] == [400, 400, 400]
    right = ask_token(client, "password")
    assert_throttled(right, "RNNSERVICE_THROTTLE_TOKEN", 60)        # the right password waits its turn too
    elsewhere = ask_token(client, "password", REMOTE_ADDR="10.0.0.9")
    assert elsewhere.status_code == 200


def test_it_ignores_a_forwarded_address_unless_told_of_a_proxy(client, alice, settings):
    settings.RNNSERVICE_THROTTLE_TOKEN = "1/min"
    first = ask_token(client, "password", HTTP_X_FORWARDED_FOR="10.1.1.1")
    again = ask_token(client, "password", HTTP_X_FORWARDED_FOR="10.2.2.2")
    assert first.status_code == 200
    assert_throttled(again, "RNNSERVICE_THROTTLE_TOKEN", 60)        # a client cannot make up a new address


def test_it_limits_predictions_per_user(api, api_as, alice, bob, make_version, settings):
    settings.RNNSERVICE_THROTTLE_PREDICT = "2/hour"
    make_version(alice)
    make_version(bob, name="bobs")
    body = {"inputs": ["great fun ."]}
    assert [api.post("/api/models/sentiment/predict/", body, format="json").status_code for _ in range(2)] == [200, 200]
    assert_throttled(api.post("/api/models/sentiment/predict/", body, format="json"),
                     "RNNSERVICE_THROTTLE_PREDICT", 3600)
    assert api_as(bob).post("/api/models/bobs/predict/", body, format="json").status_code == 200
    assert api.get("/api/models/sentiment/").status_code == 200    # the rest of the API is not throttled


def test_it_does_not_throttle_when_the_rate_is_off(client, alice, settings):
    settings.RNNSERVICE_THROTTLE_TOKEN = None
    responses = [ask_token(client, "password") for _ in range(20)]
    assert {response.status_code for response in responses} == {200}


def test_it_lets_requests_through_when_the_cache_is_unreachable(client, alice, settings, caplog):
    settings.RNNSERVICE_THROTTLE_TOKEN = "1/min"
    # A port nothing listens on: every cache call fails, as with Redis down.
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache",
                                   "LOCATION": "redis://127.0.0.1:9/0"}}
    responses = [ask_token(client, "password") for _ in range(2)]
    assert [response.status_code for response in responses] == [200, 200]
    assert "the cache is unreachable" in caplog.text


@pytest.mark.skipif("RedisCache" not in django_settings.CACHES["default"]["BACKEND"],
                    reason="needs CACHE_URL=redis://... (make test-services)")
def test_it_counts_requests_of_other_processes_through_redis(client, alice, settings, fresh_counts):
    """Another process (a second gunicorn worker) takes the address's whole allowance; this one must refuse."""
    settings.RNNSERVICE_THROTTLE_TOKEN = "3/min"
    other_worker = f"""
import django
django.setup()
from django.test import RequestFactory, override_settings
from rnnservice.throttling import TokenRateThrottle
with override_settings(CACHES={{"default": {json.dumps(fresh_counts)}}}, RNNSERVICE_THROTTLE_TOKEN="3/min"):
    request = RequestFactory().post("{TOKEN_URL}", REMOTE_ADDR="127.0.0.1")
    print([TokenRateThrottle().allow_request(request, None) for _ in range(3)])
"""
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings"}
    done = subprocess.run([sys.executable, "-c", other_worker], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=120)
    assert done.stdout.strip() == "[True, True, True]", done.stderr
    assert_throttled(ask_token(client, "password"),
                     "RNNSERVICE_THROTTLE_TOKEN", 60)


def test_it_limits_admin_login_attempts_per_address_together_with_token_requests(client, staff, settings):
    settings.RNNSERVICE_THROTTLE_TOKEN = "3/min"
    assert client.get("/admin/login/").status_code == 200                # reading the page is no attempt
    token = client.post(TOKEN_URL, {"username": "sam", "password": "guess"}, content_type="application/json")
    wrong = [client.post("/admin/login/", {"username": "sam", "password": f"guess{n}"}) for n in range(2)]
    assert [response.status_code for response in [token, *wrong]] == [400, 200, 200]     # 200: the form, again
    right = client.post("/admin/login/", {"username": "sam", "password": "password"})
    assert right.status_code == 429 and 1 <= int(right["Retry-After"]) <= 60
    assert "RNNSERVICE_THROTTLE_TOKEN" in right.content.decode() and "_auth_user_id" not in client.session
    elsewhere = client.post("/admin/login/?next=/admin/", {"username": "sam", "password": "password"},
                            REMOTE_ADDR="10.0.0.9")
    assert (elsewhere.status_code, elsewhere["Location"]) == (302, "/admin/")
