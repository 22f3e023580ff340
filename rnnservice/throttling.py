"""Request rates: DRF's throttles with their rates read from settings, and a 429 that names the setting."""
from __future__ import annotations

import logging
import math

from django.conf import settings
from rest_framework.exceptions import Throttled
from rest_framework.request import Request
from rest_framework.throttling import SimpleRateThrottle
from rest_framework.views import APIView

logger = logging.getLogger(__name__)


class RateLimited(Throttled):
    """A 429: DRF's handler adds Retry-After; rnnservice.api.exception_handler gives it the project's error shape."""

    def __init__(self, *, limit: str, rate: str, wait: float):
        seconds = max(1, math.ceil(wait))             # never 0: a Retry-After of 0 would invite a hammering retry
        # Without `wait` here: DRF would add "Expected available in N seconds." to a message that says it already.
        super().__init__(detail=f"too many requests: the limit is {rate} ({limit}); try again in {seconds} seconds")
        self.limit, self.wait = limit, seconds        # DRF's handler sends Retry-After from `wait`


class SettingRateThrottle(SimpleRateThrottle):
    """A sliding window of `setting`'s rate (None: no limit), counted in Django's cache.

    The rate is read per request, not once at import as DRF's DEFAULT_THROTTLE_RATES is, so that a changed
    setting applies at once. A cache that cannot be reached lets the request through: rates protect the
    service, they must not take it down with Redis.
    """

    setting = ""

    def get_rate(self) -> str | None:
        return getattr(settings, self.setting)

    def allow_request(self, request: Request, view: APIView) -> bool:
        try:
            allowed = super().allow_request(request, view)
        except Exception:                           # the cache is unreachable (Redis down)
            logger.warning("throttle %s let a request through: the cache is unreachable", self.scope, exc_info=True)
            return True
        if not allowed:
            raise RateLimited(limit=self.setting, rate=self.rate, wait=self.wait() or self.duration)
        return True


class TokenRateThrottle(SettingRateThrottle):
    """Token requests per client address, against password guessing."""

    scope, setting = "token", "RNNSERVICE_THROTTLE_TOKEN"

    def get_cache_key(self, request: Request, view: APIView) -> str:
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}


class PredictRateThrottle(SettingRateThrottle):
    """Predictions per user; anonymous requests never get this far (401)."""

    scope, setting = "predict", "RNNSERVICE_THROTTLE_PREDICT"

    def get_cache_key(self, request: Request, view: APIView) -> str:
        return self.cache_format % {"scope": self.scope, "ident": request.user.pk}
