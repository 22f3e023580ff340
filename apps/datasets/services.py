"""Writes of the datasets app: create a dataset from uploaded files, validate it with the core's parsers, delete it."""
from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterable
from datetime import timedelta
from functools import partial
from pathlib import PurePath, PurePosixPath
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.core.files import File
from django.core.files.storage import Storage
from django.db import IntegrityError, transaction
from django.utils import timezone

from apps.datasets.files import data_path, dataset_paths
from apps.datasets.models import FILE_FIELDS, SPLITS, Dataset
from apps.datasets.statistics import split_statistics
from apps.datasets.tasks import validate_dataset as validate_dataset_task
from apps.datasets.uploads import check_stored_bytes, upload_sha256
from rnnservice.errors import ServiceError, redact
from rnnservice.ml.config import TASKS, DataConfig
from rnnservice.ml.errors import FormatError
from rnnservice.ml.formats import FORMAT_TASKS, FORMATS, guess_format, read_examples
from rnnservice.ml.formats.numeric import SeriesExample

logger = logging.getLogger(__name__)
_PLAIN_SUFFIX = re.compile(r"\.[a-z0-9]{1,10}")
_HOLDS = {"tokens": "text", "values": "numeric series"}


def dataset_create(*, owner: AbstractBaseUser, name: str, task: str, format: str | None = None, train: File,
                   train_target: File | None = None, dev: File | None = None, dev_target: File | None = None,
                   test: File | None = None, test_target: File | None = None,
                   queue_validation: bool = True) -> Dataset:
    """Store the files of a new, pending dataset and queue its validation once the row is committed.

    Raises ServiceError for a name the owner already uses, a format that cannot hold the task, target files
    where they do not belong, or a file that is not plain UTF-8 text (compressed, binary), except for format npz
    (given, or a training file named .npz): then every file must be a zip archive; LimitExceeded for a file over
    the size, line or line length limit, or uploads past the owner's DATASET_MAX_BYTES_PER_USER (uploads.py).
    Nothing is stored when it raises. With
    `queue_validation=False` the caller runs dataset_validate itself.
    """
    given = zip(FILE_FIELDS, (train, train_target, dev, dev_target, test, test_target), strict=True)
    uploads = {field: file for field, file in given if file is not None}
    _check_request(owner=owner, name=name, task=task, format=format, fields=set(uploads))
    archive = format == "npz" or (format is None and _plain_suffix(train.name) == ".npz")
    digests = {field: upload_sha256(field, upload, archive=archive) for field, upload in uploads.items()}
    saved: list[tuple[Storage, str]] = []
    try:
        with transaction.atomic():
            # The owner's row, locked until the commit, so that two uploads at once count each other's bytes.
            get_user_model().objects.select_for_update().filter(pk=owner.pk).first()
            check_stored_bytes(owner, uploads)
            dataset = Dataset.objects.create(owner=owner, name=name, task=task, format=format, sha256=digests)
            for field, upload in uploads.items():
                stored = getattr(dataset, field)
                stored.save(field + _plain_suffix(upload.name), upload, save=False)
                saved.append((stored.storage, stored.name))
            dataset.save(update_fields=list(uploads))
    except IntegrityError as exc:             # the unique (owner, name) constraint, when two uploads race
        _remove_files(saved)
        raise ServiceError(f"you already have a dataset named {name!r}", field="name") from exc
    except BaseException:
        _remove_files(saved)
        raise
    if queue_validation:
        # After the commit, or the worker could look for a row that is not there yet. Robust: a broker that is
        # down must not turn a stored upload into a 500; the dataset stays pending and the error is logged.
        # A lambda, not a partial: Django names the callback in that log line, and a partial has no name.
        transaction.on_commit(lambda: validate_dataset_task.delay(dataset.pk), robust=True)
    return dataset


def dataset_validate(*, dataset_id: int) -> Dataset | None:
    """Parse each file of a pending dataset; mark it valid with statistics, or invalid with the first error's
    file field and line. A guessed format is recorded either way. Returns the dataset, None when it is gone.

    A dataset that is no longer pending is returned untouched: a message delivered twice must not redo the
    work, and a valid dataset never changes. A bad file raises nothing: `invalid` is the result.
    """
    dataset = Dataset.objects.filter(pk=dataset_id).first()
    if dataset is None or dataset.status != Dataset.Status.PENDING:
        return dataset
    try:
        with dataset_paths(dataset) as paths:
            format, input, statistics = _read_splits(dataset, paths)
        result: dict[str, Any] = {"status": Dataset.Status.VALID, "format": format, "input": input,
                                  "statistics": statistics}
    except _FileProblem as problem:
        result = {"status": Dataset.Status.INVALID, "format": problem.format, "error": problem.problem,
                  "error_file": problem.field, "error_line": problem.line}
    # Parsing ran outside any transaction and took a while. Write only if the row is still pending: it may
    # have been deleted meanwhile, or validated by a twin of this message; a result is never overwritten.
    Dataset.objects.filter(pk=dataset.pk, status=Dataset.Status.PENDING).update(**result, updated=timezone.now())
    return Dataset.objects.filter(pk=dataset.pk).first()


def dataset_fail(*, dataset_id: int, error: str) -> None:
    """Mark a still-pending dataset invalid after its validation crashed, so that it does not stay pending."""
    Dataset.objects.filter(pk=dataset_id, status=Dataset.Status.PENDING).update(
        status=Dataset.Status.INVALID, error=error, error_file="", error_line=None, updated=timezone.now())


def datasets_resend_pending(*, older_than: timedelta | None = None) -> list[int]:
    """Send validate_dataset again for each dataset pending for longer than `older_than` (default
    DATASET_PENDING_RESEND_SECONDS): its message was lost (a broker restarted without persistence) or never sent
    (the broker was down at upload). A twin of a message still on its way does no harm: dataset_validate writes
    only while the dataset is pending. `updated` is touched, so that the next sending waits as long again.
    Returns the ids sent; a dataset the broker refuses stays as it was, for the next pass (celery beat's).
    """
    resend_after = older_than if older_than is not None else timedelta(
        seconds=settings.DATASET_PENDING_RESEND_SECONDS)
    pending = Dataset.objects.filter(status=Dataset.Status.PENDING, updated__lt=timezone.now() - resend_after)
    sent = []
    for dataset_id, updated in pending.values_list("pk", "updated"):
        try:
            validate_dataset_task.delay(dataset_id)
        except Exception:
            logger.exception("dataset %s could not be sent for validation again", dataset_id)
            continue
        logger.warning("dataset %s sent for validation again: pending since %s", dataset_id, updated)
        Dataset.objects.filter(pk=dataset_id, status=Dataset.Status.PENDING).update(updated=timezone.now())
        sent.append(dataset_id)
    return sent


def dataset_delete(*, dataset: Dataset) -> None:
    """Delete the dataset's row, and its files once that is committed: a rolled-back delete keeps them. Raises
    ProtectedError (a 409) while training jobs point at it, those being launched on it at this moment included."""
    files = [(stored.storage, stored.name) for stored in dataset.files().values()]
    with transaction.atomic():
        # The row locked before the jobs that use it are looked for, as job_launch locks it before adding one: a
        # launch at the same moment either comes first and is found, or waits and finds the dataset gone.
        Dataset.objects.select_for_update().filter(pk=dataset.pk).first()
        dataset.delete()
        transaction.on_commit(partial(_remove_files, files))


def _check_request(*, owner: AbstractBaseUser, name: str, task: str, format: str | None, fields: set[str]) -> None:
    if task not in TASKS:
        raise ServiceError(f"task must be one of {', '.join(TASKS)}, not {task!r}", field="task")
    if format is not None and format not in FORMATS:
        raise ServiceError(f"format must be one of {', '.join(FORMATS)}, not {format!r}", field="format")
    if format is not None and task not in FORMAT_TASKS[format]:
        raise ServiceError(f"format {format!r} holds {' or '.join(FORMAT_TASKS[format])} data, not {task}",
                           field="format")
    targets = sorted(field for field in fields if field.endswith("_target"))
    if targets and task != "translation":
        raise ServiceError(f"{targets[0]} is for translation only: the target side of two aligned files",
                           field=targets[0])
    if targets and format not in (None, "parallel"):
        raise ServiceError(f"two aligned files are read as format 'parallel', not {format!r}", field="format")
    for split in SPLITS if targets else ():
        if f"{split}_target" in fields and split not in fields:
            raise ServiceError(f"{split}_target needs {split}, the source side", field=split)
        if split in fields and f"{split}_target" not in fields:
            raise ServiceError(f"{split}_target is missing: the other splits come as two aligned files, "
                               f"so {split} must too", field=f"{split}_target")
    if Dataset.objects.filter(owner=owner, name=name).exists():
        raise ServiceError(f"you already have a dataset named {name!r}", field="name")


def _plain_suffix(client_name: str | None) -> str:
    """The client's extension when short and plain (.conllu, .tsv, .de), since formats are guessed from it;
    nothing else of the client's file name is kept."""
    suffix = PurePath(client_name or "").suffix.lower()
    return suffix if _PLAIN_SUFFIX.fullmatch(suffix) else ""


def _remove_files(files: Iterable[tuple[Storage, str]]) -> None:
    folders = set()
    for storage, name in files:
        storage.delete(name)
        folders.add((storage, str(PurePosixPath(name).parent)))
    for storage, folder in folders:
        try:
            os.rmdir(storage.path(folder))    # datasets/<id>/, now empty; storages without folders have no path
        except (OSError, NotImplementedError):
            logger.debug("left the folder %s of %s in place", folder, storage)


class _FileProblem(Exception):
    """The first problem in a dataset's files: the file field, its line, and the format it was read in."""

    def __init__(self, field: str, line: int | None, problem: str, format: str | None):
        super().__init__(f"{field}, line {line}: {problem}" if line else f"{field}: {problem}")
        self.field, self.line, self.problem, self.format = field, line, problem, format


def _read_splits(dataset: Dataset, files: dict[str, str]) -> tuple[str, str, dict[str, Any]]:
    """(format, input kind, statistics) of the dataset's files, given as local paths by field (dataset_paths); every
    split is read in the format of the training file, and must hold what it holds (text or numeric series)."""
    fields_by_path = {path: field for field, path in files.items()}
    format, input, splits = dataset.format, None, {}
    for split in SPLITS:
        if split not in files:
            continue
        path = data_path(files, split)
        try:
            format = format or guess_format(path, task=dataset.task)
            examples = read_examples(path, task=dataset.task, format=format)
        except FormatError as exc:
            problem = redact(exc.problem, fields_by_path)      # the server's folders are no business of users
            raise _FileProblem(fields_by_path.get(exc.path, split), exc.line or None, problem, format) from exc
        found = "values" if isinstance(examples[0], SeriesExample) else "tokens"
        if input not in (None, found):
            raise _FileProblem(split, None, f"the file holds {_HOLDS[found]}, but the train file holds "
                                            f"{_HOLDS[input]}; every file of a dataset holds the same", format)
        input, splits[split] = found, split_statistics(examples)
    if "dev" in files:
        return format, input, {"splits": splits, "dev_split": {"dev": "given"}}
    data = DataConfig()
    if dataset.task == "forecasting":          # the end of each series, by time (the job's config may change it)
        return format, input, {"splits": splits, "dev_split": {"dev": "time", "dev_fraction": data.dev_fraction}}
    # No dev file: training splits one off the training examples, seeded (the job's config may change these).
    if splits["train"]["examples"] < 2:
        raise _FileProblem("train", None, "there is 1 example; with no dev file, training needs at least 2 "
                                          "to split a dev set off", format)
    return format, input, {"splits": splits,
                    "dev_split": {"dev": "split", "dev_fraction": data.dev_fraction, "split_seed": data.split_seed}}
