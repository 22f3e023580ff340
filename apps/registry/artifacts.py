"""A registered version's folder on disk, and whether it is still the artifact whose sha256 was recorded."""
from __future__ import annotations

import os
from pathlib import Path

from apps.registry.models import ModelVersion
from rnnservice.errors import ArtifactUnavailable
from rnnservice.ml.artifacts import MANIFEST, verify_version
from rnnservice.ml.errors import ArtifactError


def version_verify(*, version: ModelVersion) -> Path:
    """The version's folder, after checking every file against the manifest and the manifest's sha256 against
    the one recorded at registration. Reads every file: for a model being served, use the serving cache.
    Raises ArtifactUnavailable naming the model, the version and the first problem."""
    try:
        sha256 = verify_version(version.folder)
    except ArtifactError as exc:
        raise version_unavailable(version=version, error=exc) from exc
    if sha256 != version.sha256:
        raise version_unavailable(version=version)
    return version.folder


def version_unavailable(*, version: ModelVersion, error: ArtifactError | None = None) -> ArtifactUnavailable:
    """The error for a version whose folder failed a check: `error` from the core, or (None) a manifest whose
    sha256 is not the recorded one. The server's folders stay out of the message: paths are relative to the
    version folder."""
    if error is None:
        problem = f"{MANIFEST} is not the one recorded at registration (sha256 {version.sha256[:12]}...)"
    else:
        folder = str(version.folder)
        problem = (str(error).replace(f"{folder}: ", "").replace(folder + os.sep, "")
                   .replace(folder, "the version folder"))
    return ArtifactUnavailable(model=version.model.name, version=version.number, problem=problem)
