"""The artifact bucket (MODELS_STORE_URL): the copy of every version's files that machines share. MODELS_STORE stays
each machine's working copy; this module only moves files between the two, through Django's storage API
(STORAGES["models"], django-storages' S3 backend)."""
from __future__ import annotations

import json
import logging
import os
import shutil
from collections.abc import Sequence
from pathlib import Path

from botocore.exceptions import BotoCoreError, ClientError
from django.conf import settings
from django.core.files import File
from django.core.files.base import ContentFile
from django.core.files.storage import storages

from rnnservice.ml.artifacts import FILES, MANIFEST, sha256_file
from rnnservice.ml.errors import ArtifactError
from rnnservice.ml.runtime import ONNX_FILE

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
    """The files a version's manifest lists (model.onnx among them where the model exported), or FILES when it
    cannot be read: the verification that follows names the fault."""
    try:
        listed = [name for name in json.loads(manifest.read_text())["files"] if name in (*FILES, ONNX_FILE)]
    except (OSError, ValueError, KeyError, TypeError):
        return list(FILES)
    return listed or list(FILES)


# Training checkpoints (MODELS_STORE/checkpoints/job-<id>/ on the worker's disk) are copied under the same prefix in
# the bucket, so that a job whose worker died resumes on any machine. The files go first and checkpoint.json, the
# sha256 of each, last: a copy is trusted only when every file matches it. A writer that is still uploading (an
# attempt that lost its database but not its bucket) leaves a copy that does not match, which is not resumed.
CHECKPOINT_MANIFEST = "checkpoint.json"


def bucket_checkpoint_upload(folder: Path, prefix: str) -> None:
    """Copy every file under `folder` to <prefix>/<relative path>, then <prefix>/checkpoint.json. Raises what the
    storage raises."""
    names = [path.relative_to(folder).as_posix() for path in sorted(folder.rglob("*")) if path.is_file()]
    bucket_upload(folder, prefix, names=names)
    files = {name: sha256_file(folder / name) for name in names}
    storages[BUCKET].save(f"{prefix}/{CHECKPOINT_MANIFEST}", ContentFile(json.dumps({"files": files}).encode()))


def bucket_checkpoint_download(prefix: str, target: Path) -> bool:
    """Replace `target` with the bucket's copy under <prefix>/: True when there was a whole one; False, leaving
    `target` as it was, when there is none or a file is missing, cannot be read or does not match checkpoint.json.
    Raises what the storage raises for a checkpoint.json that cannot be read."""
    try:
        with storages[BUCKET].open(f"{prefix}/{CHECKPOINT_MANIFEST}", "rb") as source:
            files = json.loads(source.read())["files"]
    except FileNotFoundError:
        return False
    partial = target.with_name(target.name + ".download")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    try:
        for name in files:
            if not (partial / name).resolve().is_relative_to(partial.resolve()):
                raise ArtifactError(f"{name}: not a path inside the checkpoint")
        bucket_download(prefix, partial, names=list(files))
        for name, sha256 in files.items():
            if sha256_file(partial / name) != sha256:
                raise ArtifactError(f"{name} does not match {CHECKPOINT_MANIFEST}")
    except ArtifactError as exc:
        logger.warning("the checkpoint under %s in the artifact bucket is not whole (%s): not resumed", prefix, exc)
        shutil.rmtree(partial, ignore_errors=True)
        return False
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    shutil.rmtree(target, ignore_errors=True)
    os.replace(partial, target)
    return True


def bucket_checkpoint_delete(prefix: str) -> None:
    """Delete every object under <prefix>/. Raises what the storage raises."""
    bucket = storages[BUCKET]
    folders, files = bucket.listdir(prefix)
    for name in files:
        bucket.delete(f"{prefix}/{name}")
    for name in folders:
        bucket_checkpoint_delete(f"{prefix}/{name}")
