"""Probes for the orchestrator: /healthz says the process answers, /readyz that the database and broker do, and
which served model versions fail verification."""
from __future__ import annotations

import logging
import os
from collections.abc import Callable

from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from rnnservice.celery import app as celery_app

logger = logging.getLogger(__name__)
BROKER_TIMEOUT = 3           # seconds: a probe that hangs is as bad as one that fails
ARTIFACT_BUDGET = 2          # seconds of hashing per probe at most; versions left over are verified at the next ones
FILESYSTEM_FOLDERS = ("data_folder_in", "data_folder_out", "processed_folder", "control_folder")


def check_database() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")


def check_broker() -> None:
    with celery_app.connection_for_write(connect_timeout=BROKER_TIMEOUT) as conn:
        conn.ensure_connection(max_retries=0, timeout=BROKER_TIMEOUT)
        if conn.transport.driver_type == "filesystem":
            # The file-system transport "connects" to anything; what it needs is folders it can write to.
            for key in FILESYSTEM_FOLDERS:
                folder = conn.transport_options.get(key)
                if folder and not os.access(folder, os.W_OK | os.X_OK):
                    raise OSError(f"broker folder {key} ({folder}) is missing or not writable")


CHECKS: dict[str, Callable[[], None]] = {"database": check_database, "broker": check_broker}


@require_GET
@never_cache
def healthz(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "ok"})


@require_GET
@never_cache
def readyz(request: HttpRequest) -> JsonResponse:
    """200 when every check passes, else 503 naming the ones that failed (the reasons go to the log only)."""
    results = {}
    for name, check in CHECKS.items():
        try:
            check()
            results[name] = "ok"
        except Exception:     # any failure means not ready; the probe itself must never crash
            logger.warning("readiness check %r failed", name, exc_info=True)
            results[name] = "failed"
    failed = [name for name, result in results.items() if result != "ok"]
    body = {"status": "unavailable" if failed else "ok", "checks": results, "failed": failed}
    if results["database"] == "ok":
        body["artifacts"] = artifacts = check_artifacts(request)
        if artifacts["failed"] and not failed:
            body["status"] = "degraded"
    return JsonResponse(body, status=503 if failed else 200)


def check_artifacts(request: HttpRequest) -> dict:
    """{"checked", "unchecked", "failed"}: the served versions (behind an alias, or a model's newest) whose files
    fail verification (apps/registry/verification.py: stat calls, hashing only what changed). They leave the
    probe at 200, "degraded": every web server reads the same store, so taking them out of the load balancer
    would stop every model, while the other versions still answer. Staff (by session or token) also get
    "versions", which names each model and version and what is wrong; others only the numbers, since model
    names are their owners' business."""
    from apps.registry.verification import versions_served_check

    try:
        report = versions_served_check(budget=ARTIFACT_BUDGET)
    except Exception:
        logger.warning("readiness: the served versions could not be checked", exc_info=True)
        return {"checked": 0, "unchecked": 0, "failed": 0, "error": "the check failed; see the log"}
    body: dict = {"checked": report.checked, "unchecked": report.unchecked, "failed": len(report.failed)}
    if report.failed and _is_staff(request):
        body["versions"] = [{"model": f.model, "version": f.version, "detail": f.detail} for f in report.failed]
    return body


def _is_staff(request: HttpRequest) -> bool:
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated:
        return bool(user.is_staff)
    from rnnservice.authentication import TokenAuthentication

    try:
        found = TokenAuthentication().authenticate(request)
    except Exception:         # a bad token: simply not staff, on a probe that must never fail
        return False
    return bool(found and found[0].is_staff)
