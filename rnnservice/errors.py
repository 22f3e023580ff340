"""Errors that services raise for requests they cannot honour. Plain Python: no Django, no DRF."""
from __future__ import annotations

from typing import Any


class ServiceError(Exception):
    """A well-formed request that cannot be honoured; the API answers 400 with this message and `extra`."""

    status = 400

    def __init__(self, message: str, **extra: Any):
        super().__init__(message)
        self.message, self.extra = message, extra


class Conflict(ServiceError):
    """A request that another one, at the same moment, has made impossible (a dataset deleted while a job was being
    launched on it): 409, and the same request again gets an answer of its own."""

    status = 409


class LimitExceeded(ServiceError):
    """A value over a configured limit. `limit` is the setting's name, so the message says what to raise."""

    def __init__(self, limit: str, value: int, maximum: int, *, what: str | None = None, **extra: Any):
        super().__init__(f"{what or limit} is {value:,}; the limit is {maximum:,} ({limit})",
                         limit=limit, value=value, maximum=maximum, **extra)


class ArtifactUnavailable(ServiceError):
    """A registered model version whose stored files are missing or not the ones recorded at registration.

    503, not 400: the request was fine and the server's copy is broken. Not a bare 500 either: the message
    names the model and version, and a 5xx still reaches the alerts that tell an operator to restore it.
    """

    status = 503

    def __init__(self, *, model: str, version: int, problem: str):
        super().__init__(f"model {model!r} version {version} cannot be used: {problem}. Its stored files are not "
                         "the ones registered; other versions are not affected", model=model, version=version)
