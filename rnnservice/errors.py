"""Errors that services raise for requests they cannot honour, and the one route from the core's errors to them.
Plain Python: no Django, no DRF."""
from __future__ import annotations

from collections.abc import Mapping
from pathlib import PurePath
from typing import Any

from rnnservice.ml.errors import ConfigError, FormatError, InputError, MLError


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


def redact(message: str, names: Mapping[str, str]) -> str:
    """`message` with each server path in `names` replaced by the name its user knows it by (a file field such as
    "train", or "" for a folder of ours). Longest first, as "/x/train" begins "/x/train_target". The one place
    where server paths leave messages: users see where in *their* data, not where on our disks."""
    for path, name in sorted(names.items(), key=lambda item: -len(item[0])):
        if path:
            message = message.replace(path, name)
    return message


def core_error(exc: MLError, names: Mapping[str, str] | None = None) -> ServiceError:
    """The one route from the core's errors to an answer: the ServiceError (a 400) that says what `exc` says, with
    the field, input index, file and line it names. `names` maps server paths to the names users know them by:
    a FormatError's file is named so (else by its base name), and its message keeps no path."""
    names = dict(names or {})
    if isinstance(exc, InputError):
        return ServiceError(str(exc), field="inputs", index=exc.index)
    if isinstance(exc, FormatError):
        file = names.get(exc.path) or PurePath(exc.path).name
        problem = redact(exc.problem, {**names, exc.path: file})
        if not exc.line:                                # line 0: the file as a whole, not one of its lines
            return ServiceError(f"{file}: {problem}", file=file)
        return ServiceError(f"{file}, line {exc.line}: {problem}", file=file, line=exc.line)
    if isinstance(exc, ConfigError):
        return ServiceError(str(exc), field=exc.field)
    return ServiceError(str(exc))
