"""The registry's report in /readyz: the served versions whose files fail verification."""
from __future__ import annotations

import logging

from django.http import HttpRequest

from apps.registry.verification import versions_served_check
from rnnservice.health import is_staff

logger = logging.getLogger(__name__)
ARTIFACT_BUDGET = 2          # seconds of hashing per probe at most; versions left over are verified at the next ones


def artifacts_report(request: HttpRequest) -> dict:
    """{"checked", "unchecked", "failed"}: the served versions (behind an alias, or a model's newest) whose files
    fail verification (apps/registry/verification.py: stat calls, hashing only what changed). They leave the
    probe at 200, "degraded": every web server reads the same store, so taking them out of the load balancer
    would stop every model, while the other versions still answer. Staff (by session or token) also get
    "versions", which names each model and version and what is wrong; others only the numbers, since model
    names are their owners' business."""
    try:
        report = versions_served_check(budget=ARTIFACT_BUDGET)
    except Exception:
        logger.warning("readiness: the served versions could not be checked", exc_info=True)
        return {"checked": 0, "unchecked": 0, "failed": 0, "error": "the check failed; see the log"}
    body: dict = {"checked": report.checked, "unchecked": report.unchecked, "failed": len(report.failed)}
    if report.failed and is_staff(request):
        body["versions"] = [{"model": f.model, "version": f.version, "detail": f.detail} for f in report.failed]
    return body
