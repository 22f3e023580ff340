"""Writes of the registry: register a version from a finished model folder, set and delete aliases, export."""
from __future__ import annotations

import json
import logging
import re
import shutil
import uuid
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction
from django.db.models import Max

from apps.datasets.models import Dataset
from apps.registry.artifacts import version_verify
from apps.registry.bucket import bucket_configured, bucket_upload
from apps.registry.models import (
    ALIAS_NAME_PATTERN,
    MODEL_NAME_PATTERN,
    RESERVED_MODEL_NAMES,
    Alias,
    ModelVersion,
    RegisteredModel,
)
from apps.registry.signatures import signature_differences, signature_of
from rnnservice.errors import Conflict, ServiceError
from rnnservice.ml.artifacts import verify_version
from rnnservice.ml.config import TASKS
from rnnservice.ml.errors import ArtifactError

logger = logging.getLogger(__name__)


def version_create(*, owner: AbstractBaseUser, model_name: str, task: str, source_dir: Path,
                   dataset: Dataset | None = None, metrics: dict[str, Any] | None = None) -> ModelVersion:
    """Register a version from a finished model folder written by TrainResult.save(source_dir).

    Creates the RegisteredModel on first use, owned by `owner`. Verifies the folder against its manifest, takes
    the next number under a row lock, moves the folder to MODELS_STORE/<model name>/<number>/ and records its
    sha256, `metrics` (else the dev metrics in config.json) and config.json's other keys as `info`. The folder
    is moved, not copied: `source_dir` should be on the same file system as MODELS_STORE. With an artifact bucket
    (MODELS_STORE_URL), the files are uploaded to it too, inside the transaction, under the model's row lock.

    Raises ServiceError for a bad name or task, a name another user's model has, a model of another task, or a
    dataset of another task; ArtifactError for a folder that fails its manifest; the storage's error for an upload
    that failed. Nothing is registered when it raises.
    Inside a caller's transaction that rolls back later, the moved folder stays without a row; the next version
    given that number sets it aside (see _move_into_store).
    """
    _check_name(model_name)
    if task not in TASKS:
        raise ServiceError(f"task must be one of {', '.join(TASKS)}, not {task!r}", field="task")
    if dataset is not None and dataset.task != task:
        raise ServiceError(f"dataset {dataset.name!r} holds {dataset.task} data, not {task}", field="dataset")
    source_dir = Path(source_dir)
    sha256 = verify_version(source_dir)          # before any lock: hashing the weights may take seconds
    info = _read_info(source_dir, task)
    moved_to: Path | None = None
    try:
        with transaction.atomic():
            model = _model_for_update(owner=owner, name=model_name, task=task)
            number = (model.versions.aggregate(last=Max("number"))["last"] or 0) + 1
            artifact_path = f"{model.name}/{number}"
            moved_to = _move_into_store(source_dir, Path(settings.MODELS_STORE) / artifact_path)
            version = ModelVersion.objects.create(
                model=model, number=number, artifact_path=artifact_path, sha256=sha256, dataset=dataset,
                metrics=metrics if metrics is not None else info.get("metrics", {}), info=info,
                signature=signature_of(task=task, info=info))
            if bucket_configured():
                # Before the commit: no machine finds the row before the bucket holds its files.
                bucket_upload(moved_to, artifact_path)
            return version
    except BaseException:
        if moved_to is not None:                 # the row is not there: give the caller its folder back
            shutil.move(moved_to, source_dir)
        raise


def alias_set(*, model: RegisteredModel, alias: str, version_number: int, confirm: bool = False) -> Alias:
    """Point `alias` of `model` at its version `version_number`, creating the alias or moving it.

    Raises ServiceError (field "alias") for a name that is not a lower-case slug, and (field "version") for a
    number the model has no version of; Conflict (409, with "differences") for a move to a version whose
    signature differs from the one the alias points at (labels added or removed, another input kind) unless
    `confirm`: its callers would get answers they do not expect. The next prediction that resolves the alias gets
    the new version.
    """
    if not isinstance(alias, str) or not re.fullmatch(ALIAS_NAME_PATTERN, alias):
        raise ServiceError(f"alias {alias!r} is not a valid name: use up to 50 lower-case letters, digits, hyphens "
                           "and underscores, starting with a letter", field="alias")
    version = model.versions.filter(number=version_number).first()
    if version is None:
        raise ServiceError(f"model {model.name!r} has no version {version_number}", field="version")
    with transaction.atomic():
        # The alias row, locked: the differences are checked against the version it points at when it moves.
        current = Alias.objects.select_for_update().select_related("version").filter(model=model, name=alias).first()
        if current is not None and not confirm:
            differences = signature_differences(current.version.signature, version.signature)
            if differences:
                raise Conflict(f"version {version.number} of {model.name!r} changes what {alias!r} (version "
                               f"{current.version.number}) answers: {'; '.join(differences)}. Confirm the move to make "
                               "it anyway (\"confirm\": true in the API, --confirm on the command line)",
                               field="confirm", differences=differences)
        # update_or_create settles two requests that create the same alias at once (the unique (model, name)
        # constraint): the later one updates.
        found, _ = Alias.objects.update_or_create(model=model, name=alias, defaults={"version": version})
    return found


def alias_delete(*, model: RegisteredModel, alias: str) -> None:
    """Remove `alias` from `model`; predictions that named it get a 404 from then on. Raises ServiceError when
    the model has no such alias."""
    deleted, _ = model.aliases.filter(name=alias).delete()
    if not deleted:
        raise ServiceError(f"model {model.name!r} has no alias {alias!r}", field="alias")


def model_update(*, model: RegisteredModel, description: str | None = None) -> RegisteredModel:
    """Change what the owner may change after registration: the description (None: keep it). The name and task
    are fixed, since artifact paths and the versions' labels depend on them."""
    if description is not None:
        model.description = description
        model.save(update_fields=["description"])
    return model


def version_export(*, version: ModelVersion, out_dir: Path) -> Path:
    """Copy the version's folder, verified against the recorded sha256, to `out_dir` (which must not exist or must
    be empty), and check the copy too. The folder appears whole or not at all. Raises ArtifactUnavailable for a
    stored folder that fails, ServiceError for an `out_dir` that holds files."""
    out_dir = Path(out_dir)
    if out_dir.exists() and (not out_dir.is_dir() or any(out_dir.iterdir())):
        raise ServiceError(f"{out_dir} exists and is not an empty folder; a model version is never overwritten")
    source = version_verify(version=version)
    partial = out_dir.with_name(f".{out_dir.name}.partial-{uuid.uuid4().hex[:8]}")
    try:
        # The bytes only, not the store's modes (copytree would keep them, and a version saved before every file got
        # one mode has a weights file for its owner only): each file as this user writes any, one mode for all.
        partial.mkdir(parents=True)
        for path in sorted(source.rglob("*")):
            target = partial / path.relative_to(source)
            if path.is_dir():
                target.mkdir(exist_ok=True)
            else:
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(path, target)
        if verify_version(partial) != version.sha256:
            raise ServiceError(f"the copy in {partial} does not match the recorded sha256; nothing was exported")
        if out_dir.exists():
            out_dir.rmdir()
        partial.rename(out_dir)
    finally:
        shutil.rmtree(partial, ignore_errors=True)
    return out_dir


def model_name_check(*, owner: AbstractBaseUser, name: str, task: str, task_field: str = "task") -> None:
    """The model name rules, for a launch (before training starts) and for version_create (at registration): a
    well-formed name, not reserved, and either free or the owner's own model of `task` in the same case. Raises
    ServiceError naming the field ("model_name", or `task_field` for a model of another task)."""
    _check_name(name)
    model = RegisteredModel.objects.filter(name__iexact=name).first()
    if model is not None:
        _check_model(model, owner=owner, name=name, task=task, task_field=task_field)


def _check_name(name: str) -> None:
    if not isinstance(name, str) or not re.fullmatch(MODEL_NAME_PATTERN, name):
        raise ServiceError(f"model name {name!r} is not valid: use up to 100 letters, digits, hyphens and "
                           "underscores, starting with a letter or a digit", field="model_name")
    if name.lower() in RESERVED_MODEL_NAMES:
        raise ServiceError(f"model name {name!r} is reserved: MODELS_STORE/{name.lower()}/ holds no model",
                           field="model_name")


def _check_model(model: RegisteredModel, *, owner: AbstractBaseUser, name: str, task: str, task_field: str) -> None:
    if model.owner_id != owner.pk:
        # Model names are global: say the name is taken, but not by whom.
        raise ServiceError(f"the model name {name!r} is taken; choose another", field="model_name")
    if model.name != name:
        raise ServiceError(f"you have a model named {model.name!r}; model names are unique regardless of case",
                           field="model_name")
    if model.task != task:
        raise ServiceError(f"model {name!r} is a {model.task} model; a {task} version cannot join it",
                           field=task_field)


def _model_for_update(*, owner: AbstractBaseUser, name: str, task: str) -> RegisteredModel:
    """The model named `name`, row-locked for the rest of the transaction so that two versions registered at
    once get different numbers; created, owned by `owner`, when there is none. (On SQLite the settings'
    IMMEDIATE transactions take the database's write lock instead.)"""
    model = RegisteredModel.objects.select_for_update().filter(name__iexact=name).first()
    if model is None:
        try:
            model, _ = RegisteredModel.objects.select_for_update().get_or_create(
                name=name, defaults={"owner": owner, "task": task})
        except IntegrityError:         # another request registered the same name in another case just now
            model = RegisteredModel.objects.select_for_update().get(name__iexact=name)
    _check_model(model, owner=owner, name=name, task=task, task_field="task")
    return model


def _read_info(folder: Path, task: str) -> dict[str, Any]:
    """config.json without its format version: the run config, labels, data split, history, dev metrics."""
    try:
        document = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ArtifactError(f"{folder / 'config.json'} cannot be read: {exc}") from exc
    if document.get("task") != task:
        raise ServiceError(f"the model folder holds a {document.get('task')} model, not {task}", field="task")
    return {key: value for key, value in document.items() if key != "format_version"}


def _move_into_store(source: Path, target: Path) -> Path:
    """Move the folder to `target`: a rename on the same file system, so the version appears whole.

    A folder already at `target` has no row (numbers come from the rows, under a lock): it is left over from a
    process that died between the move and the commit. It is set aside, never served and never deleted here.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.exists():
        aside = target.with_name(f".orphan-{target.name}-{uuid.uuid4().hex[:8]}")
        logger.warning("%s has no registered version; moving it aside to %s", target, aside)
        target.rename(aside)
    shutil.move(source, target)
    return target
