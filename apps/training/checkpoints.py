"""A training job's checkpoint between attempts: MODELS_STORE/checkpoints/job-<id>/ on the worker's disk and, with an
artifact bucket (MODELS_STORE_URL), a copy under the same prefix in the bucket, so that a job whose worker died
resumes on any machine."""
from __future__ import annotations

import json
import logging
import os
import shutil
from pathlib import Path

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import storages

from apps.registry.bucket import BUCKET, BUCKET_ERRORS, bucket_configured, bucket_download, bucket_upload
from apps.registry.models import CHECKPOINTS
from apps.training.models import TrainingJob
from rnnservice.ml.artifacts import sha256_file
from rnnservice.ml.errors import ArtifactError

logger = logging.getLogger(__name__)
# In the bucket the files go first and checkpoint.json, the sha256 of each, last: a copy is trusted only when every
# file matches it. A writer that is still uploading (an attempt that lost its database but not its bucket) leaves a
# copy that does not match, which is not resumed.
CHECKPOINT_MANIFEST = "checkpoint.json"


def checkpoint_dir(job: TrainingJob) -> Path:
    """Where a job's checkpoint lives between attempts: train() resumes from it when it exists."""
    return Path(settings.MODELS_STORE) / CHECKPOINTS / f"job-{job.pk}"


def _checkpoint_key(job: TrainingJob) -> str:
    return f"{CHECKPOINTS}/job-{job.pk}"          # in the artifact bucket, as under MODELS_STORE


def checkpoint_fetch(job: TrainingJob) -> None:
    """With an artifact bucket, a later attempt takes the bucket's copy of the job's checkpoint, so that it resumes
    where the last one stopped on whichever machine it runs (each epoch's copy is uploaded as soon as it is
    written). With no bucket, no whole copy in it, or a bucket that cannot be read, the local checkpoint is used."""
    if not bucket_configured() or job.attempts == 1:        # a first attempt has nothing to resume
        return
    try:
        if bucket_checkpoint_download(_checkpoint_key(job), checkpoint_dir(job)):
            logger.info("training job %s: checkpoint taken from the artifact bucket", job.pk)
    except BUCKET_ERRORS as exc:
        logger.warning("training job %s: the checkpoint in the artifact bucket cannot be read (%s); the local "
                       "one is used if there is one", job.pk, exc)


def checkpoint_push(job: TrainingJob) -> None:
    """After an epoch: the job's checkpoint to the artifact bucket (when there is one). A failed upload costs only
    the epochs since the last good one if the job must resume elsewhere: training goes on."""
    if not bucket_configured():
        return
    try:
        bucket_checkpoint_upload(checkpoint_dir(job), _checkpoint_key(job))
    except BUCKET_ERRORS as exc:
        logger.warning("training job %s: checkpoint not copied to the artifact bucket: %s", job.pk, exc)


def checkpoint_remove(job: TrainingJob) -> None:
    """A job finished for good: nothing will resume it. Its checkpoint goes, from the disk and the bucket."""
    shutil.rmtree(checkpoint_dir(job), ignore_errors=True)
    if bucket_configured():
        try:
            bucket_checkpoint_delete(_checkpoint_key(job))
        except BUCKET_ERRORS as exc:
            logger.warning("training job %s: its checkpoint stays in the artifact bucket: %s", job.pk, exc)


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
