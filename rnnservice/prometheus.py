"""Prometheus metrics: request latency per URL route, predictions per model version, training jobs by outcome;
and /metrics, which serves them in Prometheus's text format.

With PROMETHEUS_MULTIPROC_DIR set (in the environment of the web server or the Celery worker, before they start),
prometheus_client runs in multiprocess mode: each process writes its values to files in that folder and a
scrape adds up every process's. Without it, a process serves its own values only, which is right for one
process (runserver, a solo-pool worker).
"""
from __future__ import annotations

import glob
import hmac
import os
import time
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING
from wsgiref.simple_server import WSGIServer

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
    start_http_server,
)

if TYPE_CHECKING:
    from apps.registry.models import RegisteredModel

# Labels come from fixed sets only (route patterns, not paths; model ids, not user input), so that a client can
# never make the number of series grow.
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
UNMATCHED = "<unmatched>"        # the route of a request no URL pattern matched (a 404)

REQUEST_SECONDS = Histogram(
    "rnnservice_http_request_duration_seconds", "Time to answer an HTTP request, by method, URL route and status.",
    ["method", "route", "status"], buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120))
PREDICTIONS = Counter("rnnservice_predictions", "Prediction requests answered, by model and version.",
                      ["model", "version"])
PREDICTED_ITEMS = Counter("rnnservice_predicted_items", "Inputs predicted, by model and version.",
                          ["model", "version"])
JOBS_FINISHED = Counter("rnnservice_training_jobs_finished", "Training jobs that ended, by final status.",
                        ["status"])
JOB_SECONDS = Histogram(
    "rnnservice_training_job_duration_seconds", "From a training job's first start to its end, by final status.",
    ["status"], buckets=(10, 30, 60, 300, 600, 1800, 3600, 2 * 3600, 4 * 3600, 12 * 3600, 24 * 3600, 72 * 3600))


def count_prediction(*, model: RegisteredModel, version: int, items: int) -> None:
    """One answered prediction request of `items` inputs. The model is labelled by its id unless
    METRICS_MODEL_LABEL is "name": a name is chosen by its owner and may say more than they would like."""
    label = model.name if settings.METRICS_MODEL_LABEL == "name" else str(model.pk)
    PREDICTIONS.labels(label, str(version)).inc()
    PREDICTED_ITEMS.labels(label, str(version)).inc(items)


def observe_job_finished(*, status: str, started: datetime | None) -> None:
    """A training job reached `status`; its duration counts from its first start (none: it never started)."""
    JOBS_FINISHED.labels(status).inc()
    if started is not None:
        JOB_SECONDS.labels(status).observe(max(0.0, (timezone.now() - started).total_seconds()))


class RequestMetricsMiddleware:
    """Times each request, labelled by the URL pattern that matched it (never the raw path), method and status."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        started = time.perf_counter()
        response = self.get_response(request)
        match = getattr(request, "resolver_match", None)
        route = match.route if match is not None and match.route else UNMATCHED
        method = request.method if request.method in METHODS else "other"
        REQUEST_SECONDS.labels(method, route, str(response.status_code)).observe(time.perf_counter() - started)
        return response


def metrics_registry() -> CollectorRegistry:
    """What a scrape reads: every process's files in multiprocess mode, else this process's registry."""
    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        return REGISTRY
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)
    return registry


@require_GET
@never_cache
def metrics_view(request: HttpRequest) -> HttpResponse:
    """The metrics, for a scraper with `Authorization: Bearer <METRICS_TOKEN>` or a logged-in staff user."""
    if not _may_read_metrics(request):
        if request.user.is_authenticated:
            return JsonResponse({"detail": "only staff may read the metrics"}, status=403)
        response = JsonResponse({"detail": "send Authorization: Bearer <METRICS_TOKEN>"}, status=401)
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    return HttpResponse(generate_latest(metrics_registry()), content_type=CONTENT_TYPE_LATEST)


def serve_worker_metrics(port: int) -> WSGIServer:
    """Serve this Celery worker's metrics over HTTP on `port`, from a thread: a worker answers no requests of
    its own. No authentication: publish the port on a private network only."""
    server, _ = start_http_server(port, registry=metrics_registry())
    return server


def clear_multiprocess_dir() -> None:
    """Empty PROMETHEUS_MULTIPROC_DIR as a service starts, before its processes write: the files of a previous
    run's processes would otherwise be added to this run's."""
    folder = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    for path in glob.glob(os.path.join(folder, "*.db")) if folder else ():
        os.remove(path)


def mark_process_dead(pid: int) -> None:
    """A process of this service ended: multiprocess mode drops its live gauges (a no-op otherwise)."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        multiprocess.mark_process_dead(pid)


def _may_read_metrics(request: HttpRequest) -> bool:
    token = settings.METRICS_TOKEN
    sent = request.headers.get("Authorization", "")
    if token and hmac.compare_digest(sent.encode(), f"Bearer {token}".encode()):
        return True
    return request.user.is_authenticated and request.user.is_staff
