"""A registered version's folder on disk (downloaded from the artifact bucket when this machine lacks it), and
whether it is still the artifact whose sha256 was recorded."""
from __future__ import annotations

import logging
import os
import shutil
import threading
import uuid
from pathlib import Path

from apps.registry.bucket import bucket_configured, bucket_download
from apps.registry.models import ModelVersion
from rnnservice.errors import ArtifactUnavailable, redact
from rnnservice.ml.artifacts import MANIFEST, verify_version
from rnnservice.ml.errors import ArtifactError

logger = logging.getLogger(__name__)
_downloading = threading.Lock()


def version_fetch(*, version: ModelVersion) -> Path:
    """The version's folder on this machine. A missing one is downloaded from the artifact bucket (MODELS_STORE_URL)
    into a temporary folder beside it, checked against the recorded sha256, and renamed into place: a folder
    appears whole and right, or not at all. Without a bucket, or with a folder present, nothing is downloaded
    (a folder present but changed is refused when loaded, as ever).

    Raises ArtifactUnavailable naming the model and version when the bucket's copy is missing, unreadable or
    not the one registered."""
    folder = version.folder
    if folder_present(folder) or not bucket_configured():
        return folder
    with _downloading:                     # a process's threads that all miss a new version download it once
        if not folder_present(folder):
            _download_into(version, folder)
    return folder


def version_verify(*, version: ModelVersion) -> Path:
    """The version's folder, after checking every file against the manifest and the manifest's sha256 against
    the one recorded at registration; a folder this machine lacks is downloaded first (version_fetch). Reads
    every file: for a model being served, use the serving cache. Raises ArtifactUnavailable naming the model,
    the version and the first problem."""
    version_fetch(version=version)
    try:
        sha256 = verify_version(version.folder)
    except ArtifactError as exc:
        raise version_unavailable(version=version, error=exc) from exc
    if sha256 != version.sha256:
        raise version_unavailable(version=version)
    return version.folder


def folder_present(folder: Path) -> bool:
    """Whether the folder is there; one that cannot be looked at (a parent's permissions) counts as there, so that
    loading it fails as unreadable (a 503 naming the version), neither a 500 nor a download over it."""
    try:
        return folder.exists()
    except OSError:
        return True


def version_unavailable(*, version: ModelVersion, error: ArtifactError | None = None) -> ArtifactUnavailable:
    """The error for a version whose folder failed a check: `error` from the core, or (None) a manifest whose
    sha256 is not the recorded one. The server's folders stay out of the message: paths are relative to the
    version folder."""
    if error is None:
        problem = f"{MANIFEST} is not the one recorded at registration (sha256 {version.sha256[:12]}...)"
    else:
        folder = str(version.folder)
        problem = redact(str(error), {f"{folder}: ": "", folder + os.sep: "", folder: "the version folder"})
    return ArtifactUnavailable(model=version.model.name, version=version.number, problem=problem)


def _download_into(version: ModelVersion, folder: Path) -> None:
    partial = folder.with_name(f".{folder.name}.download-{uuid.uuid4().hex[:8]}")
    partial.mkdir(parents=True)
    try:
        _download_checked(version, partial)
        try:
            partial.rename(folder)
        except OSError:
            if not folder.exists():        # else another process put it there first: theirs will do
                raise
        logger.info("model %s version %s downloaded from the artifact bucket", version.model.name, version.number)
    finally:
        shutil.rmtree(partial, ignore_errors=True)


def _download_checked(version: ModelVersion, partial: Path) -> None:
    """Download the version into `partial` and check it there, before anything else can see it."""
    try:
        bucket_download(version.artifact_path, partial)
        sha256 = verify_version(partial)
    except ArtifactError as exc:
        # The message names files relative to the version folder, never the temporary one.
        problem = redact(str(exc), {f"{partial}{os.sep}": "", f"{partial}: ": "", str(partial): ""})
        logger.error("model %s version %s: the artifact bucket's copy fails: %s", version.model.name,
                     version.number, problem)
        raise version_unavailable(version=version, error=ArtifactError(f"in the artifact bucket, {problem}")) from exc
    if sha256 != version.sha256:
        logger.error("model %s version %s: the artifact bucket's %s has sha256 %s, registered %s",
                     version.model.name, version.number, MANIFEST, sha256, version.sha256)
        raise version_unavailable(version=version, error=ArtifactError(
            f"in the artifact bucket, {MANIFEST} is not the one recorded at registration "
            f"(sha256 {version.sha256[:12]}...)"))
