"""Tests for rnnservice.logs: request ids in and out, log lines in JSON or text that carry them, and the task id and
job or dataset id inside a Celery task."""
from __future__ import annotations

import io
import json
import logging
import logging.config
import re
import runpy
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.core.signals import request_finished
from django.http import HttpResponse
from django.test import RequestFactory

from apps.datasets.tasks import validate_dataset
from apps.training.tasks import train_model
from rnnservice.logs import RequestIdMiddleware, log_context

ROOT = Path(__file__).resolve().parents[1]


def settings_logging(monkeypatch, tmp_path, log_format: str) -> dict:
    """settings.LOGGING as settings.py makes it for RNNSERVICE_LOG_FORMAT=log_format."""
    monkeypatch.setenv("RNNSERVICE_LOG_FORMAT", log_format)
    monkeypatch.setenv("RNNSERVICE_HOME", str(tmp_path / "home"))
    return runpy.run_path(str(ROOT / "rnnservice" / "settings.py"))["LOGGING"]


def line_logged_in_a_request(config: dict, request_id: str) -> str:
    """Build the console handler's formatter and filter from `config`, log one line inside a request, and
    return what the handler wrote."""
    configurator = logging.config.DictConfigurator(config)
    handler_config = config["handlers"]["console"]
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(configurator.configure_formatter(dict(config["formatters"][handler_config["formatter"]])))
    handler.addFilter(configurator.configure_filter(dict(config["filters"]["context"])))
    logger = logging.getLogger("tests.logs")
    logger.addHandler(handler)

    def view(request):
        logger.warning("inside the request")
        return HttpResponse()
    try:
        RequestIdMiddleware(view)(RequestFactory().get("/healthz", HTTP_X_REQUEST_ID=request_id))
        logger.warning("after the response")               # as Django's "Not Found: ..." and gunicorn's access line
    finally:
        request_finished.send(sender=None)
        logger.removeHandler(handler)
    return stream.getvalue()


def test_it_returns_the_clients_request_id_or_a_new_one(client):
    assert client.get("/healthz", HTTP_X_REQUEST_ID="edge-7f3a.1")["X-Request-ID"] == "edge-7f3a.1"
    assert re.fullmatch(r"[0-9a-f]{32}", client.get("/healthz")["X-Request-ID"])
    for forged in ("two\nlines", "<script>", "x" * 200):                  # never copied into logs or responses
        assert re.fullmatch(r"[0-9a-f]{32}", client.get("/healthz", HTTP_X_REQUEST_ID=forged)["X-Request-ID"])
    assert client.get("/no/such/page")["X-Request-ID"]                    # errors carry one too


# request_finished also closes the database connection an earlier test may have left open: allow database access.
@pytest.mark.django_db
def test_json_lines_carry_the_request_id_until_the_request_is_finished(monkeypatch, tmp_path):
    text = line_logged_in_a_request(settings_logging(monkeypatch, tmp_path, "json"), "req-42")
    inside, after = (json.loads(line) for line in text.splitlines())
    assert inside["message"] == "inside the request" and inside["request_id"] == "req-42"
    assert (inside["levelname"], inside["name"]) == ("WARNING", "tests.logs") and "timestamp" in inside
    assert after["message"] == "after the response" and after["request_id"] == "req-42"
    assert log_context() == {}                                   # request_finished cleared it


@pytest.mark.django_db
def test_text_lines_carry_the_request_id(monkeypatch, tmp_path):
    inside = line_logged_in_a_request(settings_logging(monkeypatch, tmp_path, "text"), "req-42").splitlines()[0]
    assert inside.endswith("WARNING tests.logs [request_id=req-42]: inside the request")


def test_an_unknown_log_format_is_refused(monkeypatch, tmp_path):
    with pytest.raises(ImproperlyConfigured, match="RNNSERVICE_LOG_FORMAT='yaml': use text or json"):
        settings_logging(monkeypatch, tmp_path, "yaml")


def test_a_task_logs_with_its_task_id_and_the_ids_it_was_given(monkeypatch):
    seen: list[dict[str, str]] = []
    monkeypatch.setattr("apps.training.runs.job_run", lambda job_id, worker: seen.append(log_context()))
    monkeypatch.setattr("apps.datasets.services.dataset_validate", lambda dataset_id: seen.append(log_context()))
    trained = train_model.apply(args=[12])                      # bound task, id by position
    validated = validate_dataset.apply(kwargs={"dataset_id": 5})
    assert seen == [{"task_id": trained.id, "job_id": "12"}, {"task_id": validated.id, "dataset_id": "5"}]
    assert log_context() == {}                                   # cleared when the task ends
