"""Tests for /healthz and /readyz."""
from __future__ import annotations

import pytest
from django.db.utils import OperationalError

from rnnservice import health
from rnnservice.celery import app as celery_app


def test_it_answers_healthz_without_a_login(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_it_is_ready_with_the_default_database_and_broker(client, db):
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "checks": {"database": "ok", "broker": "ok"}, "failed": []}


@pytest.mark.parametrize(("url", "options"), [
    ("redis://127.0.0.1:1/0", {}),                                               # nothing listens on port 1
    ("filesystem://", {"data_folder_in": "/nonexistent/messages", "data_folder_out": "/nonexistent/messages"}),
])
def test_it_names_a_broker_that_cannot_be_used(client, db, monkeypatch, url, options):
    monkeypatch.delenv("CELERY_BROKER_URL", raising=False)          # Celery reads it before its own settings
    monkeypatch.setitem(celery_app.conf, "broker_url", url)
    monkeypatch.setitem(celery_app.conf, "broker_transport_options", options)
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
