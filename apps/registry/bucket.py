"""The artifact bucket (MODELS_STORE_URL): the copy of every version's files that machines share. MODELS_STORE stays
each machine's working copy; this module only moves files between the two, through Django's storage API
(STORAGES["models"], django-storages' S3 backend)."""
from __future__ import annotations

import json
import logging
import shutil
from collections.abc import Sequence
from pathlib import Path

from botocore.exceptions import BotoCoreError, ClientError
from django.conf import settings
from django.core.files import File
from django.core.files.storage import storages

from rnnservice.ml.artifacts import FILES, MANIFEST, RUNTIME_FILES
from rnnservice.ml.errors import ArtifactError

logger = logging.getLogger(__name__)
BUCKET = "models"                  # the STORAGES alias that MODELS_STORE_URL sets
CHUNK = 1 << 20
# What a bucket that cannot be read raises: a missing object, a refused or unreachable endpoint.
BUCKET_ERRORS = (OSError, BotoCoreError, ClientError)


def bucket_configured() -> bool:
    return BUCKET in settings.STORAGES


def bucket_upload(folder: Path, artifact_path: str, *, names: Sequence[str] | None = None) -> None:
    """Upload a folder's files (a version's: those its manifest lists, the manifest last, unless `names` says
    which) as <artifact_path>/<name>. Raises what the storage raises (botocore's errors): the caller's registration
    must fail with it."""
    bucket = storages[BUCKET]
    if names is None:
        names = [*_listed(folder / MANIFEST), MANIFEST]
    for name in names:
        with open(folder / name, "rb") as source:
            bucket.save(f"{artifact_path}/{name}", File(source))


def bucket_download(artifact_path: str, target: Path, *, names: Sequence[str] | None = None) -> None:
    """Download the files of <artifact_path>/ (a version's: its manifest, then the files it lists, unless `names`
    says which) into the existing folder `target`. Raises ArtifactError naming the file that is missing from the
    bucket or could not be read."""
    if names is None:
        bucket_download(artifact_path, target, names=[MANIFEST])
        names = _listed(target / MANIFEST)
    bucket = storages[BUCKET]
    for name in names:
        (target / name).parent.mkdir(parents=True, exist_ok=True)
        try:
            with bucket.open(f"{artifact_path}/{name}", "rb") as source, open(target / name, "wb") as out:
                shutil.copyfileobj(source, out, CHUNK)
        except FileNotFoundError as exc:
            raise ArtifactError(f"{name} is missing from the artifact bucket") from exc
        except BUCKET_ERRORS as exc:
            logger.error("%s/%s cannot be read from the artifact bucket", artifact_path, name, exc_info=True)
            raise ArtifactError(f"{name} cannot be read from the artifact bucket ({type(exc).__name__})") from exc


def _listed(manifest: Path) -> list[str]:
    """The files a version's manifest lists (model.onnx and model.int8.onnx among them where the export made
    them), or FILES when it cannot be read: the verification that follows names the fault."""
    try:
        listed = [name for name in json.loads(manifest.read_text())["files"] if name in (*FILES, *RUNTIME_FILES)]
    except (OSError, ValueError, KeyError, TypeError):
        return list(FILES)
    return listed or list(FILES)
