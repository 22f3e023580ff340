"""Tests for /healthz and /readyz."""
from __future__ import annotations

import os
import shutil

import pytest
from django.db.utils import OperationalError

from apps.registry import readiness, verification
from apps.registry.services import alias_set
from rnnservice import health
from rnnservice.celery import app as celery_app
from tests.trained import corrupt


def test_it_answers_healthz_without_a_login(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_it_is_ready_with_the_default_database_and_broker(client, db):
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "checks": {"database": "ok", "broker": "ok"}, "failed": [],
                               "artifacts": {"checked": 0, "unchecked": 0, "failed": 0}}


@pytest.mark.parametrize(("url", "options"), [
    ("redis://127.0.0.1:1/0", {}),                                               # nothing listens on port 1
    ("filesystem://", {"data_folder_in": "/nonexistent/messages", "data_folder_out": "/nonexistent/messages"}),
])
def test_it_names_a_broker_that_cannot_be_used(client, db, monkeypatch, url, options):
    monkeypatch.delenv("CELERY_BROKER_URL", raising=False)          # Celery reads it before its own settings
    monkeypatch.setitem(celery_app.conf, "broker_url", url)
    monkeypatch.setitem(celery_app.conf, "broker_transport_options", options)
    if not url.startswith("filesystem://"):         # as the settings would: only a filesystem:// URL names one
        monkeypatch.setitem(celery_app.conf, "broker_transport", None)
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["failed"] == ["broker"]
    assert response.json()["checks"] == {"database": "ok", "broker": "failed"}


def test_it_names_a_database_that_cannot_be_reached(client, db, monkeypatch):
    class Unreachable:
        def cursor(self):
            raise OperationalError("connection refused")
    monkeypatch.setattr(health, "connection", Unreachable())
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["failed"] == ["database"]


@pytest.mark.parametrize("url", ["/healthz", "/readyz"])
def test_it_only_answers_get(client, url):
    assert client.post(url).status_code == 405


# /readyz and the model versions that answer requests (apps/registry/verification.py)


@pytest.fixture
def unverified():
    """Each test starts with nothing verified in this process: version ids repeat from test to test."""
    verification._verified.clear()
    yield
    verification._verified.clear()


def test_it_names_a_served_version_whose_files_changed_to_staff_and_stays_ready(
        client, api, api_as, staff, alice, make_version, unverified):
    first, second, _ = make_version(alice), make_version(alice), make_version(alice)
    alias_set(model=second.model, alias="production", version_number=2)
    corrupt(second.folder / "weights.safetensors")             # production
    shutil.rmtree(first.folder)                                # served by no alias and not the newest: not checked

    anonymous = client.get("/readyz")
    assert anonymous.status_code == 200                        # the other versions still answer
    assert anonymous.json()["status"] == "degraded"
    assert anonymous.json()["artifacts"] == {"checked": 2, "unchecked": 0, "failed": 1}
    assert "versions" not in api.get("/readyz").json()["artifacts"]          # alice is no operator
    named = api_as(staff).get("/readyz").json()["artifacts"]["versions"]
    assert [(row["model"], row["version"]) for row in named] == [("sentiment", 2)]
    assert named[0]["detail"].startswith("model 'sentiment' version 2 cannot be used: weights.safetensors has "
                                         "changed since it was saved")
    prediction = api.post("/api/models/sentiment/predict/", {"inputs": ["great fun ."]}, format="json")
    assert (prediction.status_code, prediction.json()["detail"]) == (503, named[0]["detail"])
    newest = api.post("/api/models/sentiment/predict/", {"inputs": ["great fun ."], "version": 3}, format="json")
    assert (newest.status_code, newest.json()["version"]) == (200, 3)


def test_it_hashes_a_served_version_again_only_when_its_files_change(client, alice, make_version, monkeypatch,
                                                                     unverified):
    version = make_version(alice)
    hashed = []
    real = verification.verify_version
    monkeypatch.setattr(verification, "verify_version", lambda folder: hashed.append(folder) or real(folder))

    assert client.get("/readyz").json()["artifacts"] == {"checked": 1, "unchecked": 0, "failed": 0}
    assert client.get("/readyz").json()["artifacts"] == {"checked": 1, "unchecked": 0, "failed": 0}
    assert len(hashed) == 1                                    # the second probe only looked at the stamps
    weights = version.folder / "weights.safetensors"
    stat = weights.stat()
    os.utime(weights, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10_000_000_000))
    assert client.get("/readyz").json()["artifacts"]["failed"] == 0           # touched, same bytes
    assert len(hashed) == 2
    weights.chmod(0o600)                       # made unreadable to another user: looked at again (root reads it)
    assert client.get("/readyz").json()["artifacts"]["failed"] == 0
    assert len(hashed) == 3
    weights.unlink()
    report = client.get("/readyz").json()
    assert (report["status"], report["artifacts"]["failed"], len(hashed)) == ("degraded", 1, 4)


def test_it_leaves_versions_over_the_hashing_budget_to_the_next_probe(client, alice, make_version, monkeypatch,
                                                                      unverified):
    make_version(alice, "a")
    make_version(alice, "b")
    monkeypatch.setattr(readiness, "ARTIFACT_BUDGET", 0)
    assert client.get("/readyz").json()["artifacts"] == {"checked": 0, "unchecked": 2, "failed": 0}
    monkeypatch.undo()
    assert client.get("/readyz").json()["artifacts"] == {"checked": 2, "unchecked": 0, "failed": 0}
