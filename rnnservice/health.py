"""Probes for the orchestrator: /healthz says the process answers, /readyz that the database and broker do, plus
the reports the apps register (the registry's: which served model versions fail verification)."""
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
# Reports that apps add from their AppConfig.ready() (register_report), run once the database answers: each
# returns a dict with "failed", a count. Failures leave the probe at 200 but "degraded": they concern some of what
# the service holds (a model version), not whether this process can serve.
REPORTS: dict[str, Callable[[HttpRequest], dict]] = {}


def register_report(name: str, report: Callable[[HttpRequest], dict]) -> None:
    REPORTS[name] = report


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
        for name, report in REPORTS.items():
            body[name] = _report(name, report, request)
            if body[name]["failed"] and not failed:
                body["status"] = "degraded"
    return JsonResponse(body, status=503 if failed else 200)


def _report(name: str, report: Callable[[HttpRequest], dict], request: HttpRequest) -> dict:
    try:
        return report(request)
    except Exception:         # the probe itself must never crash
        logger.warning("readiness: the %s report failed", name, exc_info=True)
        return {"failed": 0, "error": "the check failed; see the log"}


def is_staff(request: HttpRequest) -> bool:
    """Whether the probe's caller is staff, by session or token: staff may see the names in a report."""
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated:
        return bool(user.is_staff)
    from rnnservice.authentication import TokenAuthentication

    try:
        found = TokenAuthentication().authenticate(request)
    except Exception:         # a bad token: simply not staff, on a probe that must never fail
        return False
    return bool(found and found[0].is_staff)
