"""Which of the versions that answer requests fail verification, for /readyz: cheap enough for every probe."""
from __future__ import annotations

import logging
import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from django.db.models import OuterRef, Q, QuerySet, Subquery

from apps.registry.artifacts import folder_present, version_unavailable
from apps.registry.bucket import bucket_configured
from apps.registry.models import Alias, ModelVersion
from rnnservice.ml.artifacts import FILES, MANIFEST, RUNTIME_FILES, verify_version
from rnnservice.ml.errors import ArtifactError

logger = logging.getLogger(__name__)
Key = tuple[int, str]                                # (ModelVersion.pk, ModelVersion.sha256)
# (size, mtime, inode, mode) of each file, () for a runtime file the folder does not hold; None: one is missing
Stamp = tuple[tuple[int, ...], ...] | None


@dataclass
class FailedVersion:
    model: str
    version: int
    detail: str                                      # ArtifactUnavailable's message: what a prediction answers


@dataclass
class ServedCheck:
    checked: int = 0                                 # verified as the files are now, at this probe or an earlier one
    unchecked: int = 0                               # left for the next probes: this one's hashing budget was spent
    failed: list[FailedVersion] = field(default_factory=list)


# Per process: the stamp of a version's files when they were last verified, and the outcome ("" when they passed).
_verified: dict[Key, tuple[Stamp, str]] = {}
_lock = threading.Lock()


def versions_served() -> QuerySet[ModelVersion]:
    """The versions that answer requests that name no number: those an alias points at (`production` among them),
    and each model's newest (the default when it has no `production`)."""
    newest = ModelVersion.objects.filter(model=OuterRef("model")).order_by("-number").values("number")[:1]
    return (ModelVersion.objects.filter(Q(pk__in=Alias.objects.values("version")) | Q(number=Subquery(newest)))
            .select_related("model").order_by("model__name", "number"))


def versions_served_check(*, budget: float) -> ServedCheck:
    """Check the served versions' folders against their manifests and recorded sha256, as a prediction would.

    A version's files are hashed only when this process has not verified them as they are now (the size, mtime
    and inode of each, as the model cache compares them), so a probe costs four stat calls per version. Once
    `budget` seconds are spent, versions not verified yet are counted as unchecked, for the next probes: the
    first probe after a start must not hash every production model at once. A folder this machine lacks while an
    artifact bucket is configured is not counted: it is downloaded when first asked for.
    """
    report, deadline, served = ServedCheck(), time.monotonic() + budget, set()
    for version in versions_served():
        key: Key = (version.pk, version.sha256)
        served.add(key)
        folder = version.folder
        if not folder_present(folder) and bucket_configured():
            continue
        stamp = files_stamp(folder)
        with _lock:
            known = _verified.get(key)
        if known is None or known[0] != stamp:
            if time.monotonic() >= deadline:
                report.unchecked += 1
                continue
            known = (stamp, _verify(version))        # the stamp from before: a change meanwhile shows next time
            with _lock:
                _verified[key] = known
        report.checked += 1
        if known[1]:
            report.failed.append(FailedVersion(version.model.name, version.number, known[1]))
    with _lock:                                      # forget versions no longer served
        for key in set(_verified) - served:
            del _verified[key]
    return report


def files_stamp(folder: Path) -> Stamp:
    """(size, mtime, inode, mode) of each file of a version folder; None when one is missing or cannot be looked at.
    The mode, so that a file made unreadable (chmod) is verified again, and found unreadable. The runtime files
    (model.onnx, model.int8.onnx: what ONNX Runtime serves) where the folder holds them: one that changes, or goes,
    changes the stamp, and the verification that follows names it."""
    try:
        stats = [os.stat(folder / name) for name in (*FILES, MANIFEST)]
    except OSError:
        return None
    stamp = [(s.st_size, s.st_mtime_ns, s.st_ino, s.st_mode) for s in stats]
    for name in RUNTIME_FILES:
        try:
            s = os.stat(folder / name)
        except FileNotFoundError:
            stamp.append(())
            continue
        except OSError:
            return None
        stamp.append((s.st_size, s.st_mtime_ns, s.st_ino, s.st_mode))
    return tuple(stamp)


def _verify(version: ModelVersion) -> str:
    """"" when the folder passes its manifest and the manifest is the one recorded; else what is wrong."""
    try:
        if verify_version(version.folder) == version.sha256:
            return ""
        error = version_unavailable(version=version)
    except ArtifactError as exc:
        error = version_unavailable(version=version, error=exc)
    logger.error("readiness: %s", error.message)
    return error.message
