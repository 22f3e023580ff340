"""Tests for rnnservice.prometheus: who may read /metrics, what the request and prediction metrics count and how they
are labelled, multiprocess mode across forked processes, the web server's start and a Celery worker's own endpoint."""
from __future__ import annotations

import os
import runpy
import subprocess
import sys
import textwrap
import urllib.request
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured
from prometheus_client import REGISTRY

from rnnservice.prometheus import UNMATCHED, serve_worker_metrics
from rnnservice.server import prepare, server_settings

ROOT = Path(__file__).resolve().parents[1]
PREDICT_ROUTE = "api/models/<slug:name>/predict/"
TOKEN = "a-long-random-metrics-token"


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def scrape(client) -> str:
    response = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    assert response.status_code == 200
    return response.content.decode()


@pytest.fixture(autouse=True)
def metrics_token(settings):
    settings.METRICS_TOKEN = TOKEN


def test_only_a_bearer_of_the_token_or_staff_may_read_the_metrics(client, alice, staff, settings):
    anonymous = client.get("/metrics")
    assert anonymous.status_code == 401 and anonymous["WWW-Authenticate"].startswith("Bearer")
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer not-the-token").status_code == 401
    bearer = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    assert bearer.status_code == 200 and bearer["Content-Type"].startswith("text/plain; version=")
    client.force_login(alice)
    assert client.get("/metrics").status_code == 403
    client.force_login(staff)
    assert client.get("/metrics").status_code == 200
    settings.METRICS_TOKEN = ""                  # no token set: an empty bearer must not match it
    client.logout()
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer ").status_code == 401


def test_requests_are_timed_by_route_pattern_never_by_path(api, client, alice, make_version):
    make_version(alice, "sentiment")
    labels = {"method": "POST", "route": PREDICT_ROUTE, "status": "200"}
    before = sample("rnnservice_http_request_duration_seconds_count", **labels)
    missing = sample("rnnservice_http_request_duration_seconds_count", method="GET", route=UNMATCHED, status="404")
    assert api.post("/api/models/sentiment/predict/", {"inputs": ["dull ."]}, format="json").status_code == 200
    assert client.get("/no/such/page-9f8e7d").status_code == 404
    assert sample("rnnservice_http_request_duration_seconds_count", **labels) == before + 1
    assert sample("rnnservice_http_request_duration_seconds_count", method="GET", route=UNMATCHED,
                  status="404") == missing + 1
    text = scrape(client)
    assert f'route="{PREDICT_ROUTE}"' in text
    assert "page-9f8e7d" not in text and "/api/models/sentiment/" not in text


def test_predictions_count_per_model_id_and_version_with_no_names(api, client, alice, make_version, settings):
    version = make_version(alice, "sentiment")
    labels = {"model": str(version.model.pk), "version": "1"}
    before = (sample("rnnservice_predictions_total", **labels), sample("rnnservice_predicted_items_total", **labels))
    inputs = ["dull .", "great fun .", "boring ."]
    assert api.post("/api/models/sentiment/predict/", {"inputs": inputs}, format="json").status_code == 200
    assert sample("rnnservice_predictions_total", **labels) == before[0] + 1
    assert sample("rnnservice_predicted_items_total", **labels) == before[1] + 3
    text = scrape(client)
    assert "sentiment" not in text and "alice" not in text
    settings.METRICS_MODEL_LABEL = "name"        # the operator's choice: names in the labels
    assert api.post("/api/models/sentiment/predict/", {"inputs": inputs}, format="json").status_code == 200
    assert sample("rnnservice_predictions_total", model="sentiment", version="1") >= 1


def test_multiprocess_mode_adds_up_the_counts_of_forked_processes(tmp_path):
    script = textwrap.dedent("""
        import multiprocessing, types
        from prometheus_client import generate_latest
        from rnnservice.prometheus import count_prediction, metrics_registry

        def predict():
            count_prediction(model=types.SimpleNamespace(pk=7, name="x"), version=2, items=3)

        for _ in range(2):                   # two web server workers, forked after the import as granian does
            worker = multiprocessing.get_context("fork").Process(target=predict)
            worker.start()
            worker.join()
        print(generate_latest(metrics_registry()).decode())    # the scrape, in a third process
    """)
    environment = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path), "DJANGO_SETTINGS_MODULE": "tests.settings"}
    result = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=environment, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert 'rnnservice_predictions_total{model="7",version="2"} 2.0' in result.stdout
    assert 'rnnservice_predicted_items_total{model="7",version="2"} 6.0' in result.stdout


def test_the_web_server_empties_the_folder_before_its_workers_start(monkeypatch, tmp_path):
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    (tmp_path / "counter_111.db").write_bytes(b"")               # left by the last run
    prepare(server_settings())
    assert list(tmp_path.iterdir()) == []


def test_a_celery_worker_serves_its_own_metrics_on_its_port():
    server = serve_worker_metrics(0)
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{server.server_port}/metrics", timeout=10) as response:
            text = response.read().decode()
    finally:
        server.shutdown()
        server.server_close()
    assert "# TYPE rnnservice_training_jobs_finished_total counter" in text


def test_models_are_labelled_by_id_or_name_only(monkeypatch, tmp_path):
    monkeypatch.setenv("RNNSERVICE_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("METRICS_MODEL_LABEL", "owner")
    with pytest.raises(ImproperlyConfigured, match="METRICS_MODEL_LABEL='owner': use id or name"):
        runpy.run_path(str(ROOT / "rnnservice" / "settings.py"))
