"""Serving: predict with a registered version, and score one on a dataset's test (or dev) file or a local file."""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser

from apps.datasets.files import data_path, dataset_paths
from apps.datasets.models import Dataset
from apps.datasets.selectors import dataset_list
from apps.registry.models import ModelVersion
from apps.serving import limits
from apps.serving.cache import model_get
from rnnservice.errors import ServiceError, core_error
from rnnservice.ml.errors import FormatError, MLError
from rnnservice.ml.formats import FORMAT_OPTIONS, TABLE_OPTIONS, Example, guess_format, read_examples
from rnnservice.ml.formats.numeric import SeriesExample
from rnnservice.ml.predict import InputError, Predictor
from rnnservice.prometheus import count_prediction

EVALUATE_SPLITS = ("test", "dev")
_HOLDS = {"tokens": "text", "values": "numeric series"}


def predict(*, chosen: ModelVersion, inputs: Sequence[Any], options: dict[str, Any] | None = None) -> dict[str, Any]:
    """{"task", "model", "version", "outputs"}: one output per input from the version `chosen` (version_to_serve or
    version_resolve picks it), through the model cache and its batcher.

    The request is checked once, before any of it waits for the model: its size (items, frames and characters per
    input, from the request alone), its options (the serving limits and the task's check, one function), its
    inputs (parsed and encoded once, in this thread), and the tokens of those parsed inputs. The batcher gets them
    as they are. Raises LimitExceeded naming the setting, ServiceError naming the index of an input of the wrong
    shape (for numeric series also a wrong feature count or a value that is not a finite number), MLError for a
    bad option, and ArtifactUnavailable when the version's stored files are not the ones registered.
    """
    limits.check_items(inputs)
    limits.check_frames(inputs)                   # before the model is loaded: they need the request alone
    limits.check_characters(inputs)               # before any tokenizer reads an input
    loaded = model_get(version=chosen)
    predictor = loaded.predictor
    checked = limits.prediction_options(predictor, options)
    try:
        prepared = predictor.prepare(inputs)
    except InputError as exc:
        raise core_error(exc) from exc
    limits.check_tokens(predictor, prepared)
    if loaded.batcher is None:
        outputs = predictor.run(prepared, checked)
    else:
        outputs = loaded.batcher.predict(prepared, checked)
    count_prediction(model=chosen.model, version=chosen.number, items=len(inputs))
    return {"task": chosen.model.task, "model": chosen.model.name, "version": chosen.number, "outputs": outputs}


def evaluate_dataset(*, user: AbstractBaseUser | AnonymousUser, chosen: ModelVersion, dataset_id: int,
                     split: str = "test", options: dict[str, Any] | None = None) -> dict[str, Any]:
    """{"model", "version", "dataset", "split", "examples", "metrics"}: the scores of the version `chosen` (picked
    as for predict) on a dataset file.

    `split` "test" falls back to the dev file when the dataset has no test file; the answer says which was read.
    Raises ServiceError for a dataset the user cannot see, one that is not valid or holds another task or input
    kind (text, numeric series) than the model reads, a split it has no file for, and (with the file field and
    line) a label the model never saw; LimitExceeded past SERVING_MAX_EVALUATE_EXAMPLES or a decoding limit;
    ArtifactUnavailable as predict does.
    """
    model = chosen.model
    dataset = _dataset_to_score(user=user, dataset_id=dataset_id, task=model.task)
    used = _split_to_score(dataset, split)
    limits.check_examples(dataset.statistics.get("splits", {}).get(used, {}).get("examples", 0))
    predictor = model_get(version=chosen).predictor
    checked = limits.prediction_options(predictor, options)
    if dataset.input and dataset.input != predictor.input:
        raise ServiceError(f"dataset {dataset.pk} holds {_HOLDS[dataset.input]}; the model reads "
                           f"{_HOLDS[predictor.input]}", field="dataset")
    with dataset_paths(dataset, (used, f"{used}_target")) as files:
        try:
            examples = _read(predictor, data_path(files, used), format=dataset.format)
        except FormatError as exc:
            raise core_error(exc, {path: name for name, path in files.items()}) from exc
    limits.check_examples(len(examples))          # forecasting: the windows of the file's series
    return {"model": model.name, "version": chosen.number, "dataset": dataset.pk, "split": used,
            "examples": len(examples), "metrics": predictor.evaluate(examples, checked)}


def evaluate_file(*, chosen: ModelVersion, path: str | Path | tuple[str, str], format: str | None = None,
                  options: dict[str, Any] | None = None) -> dict[str, Any]:
    """{"model", "version", "examples", "metrics"}: the scores of the version `chosen` (picked as for predict) on a
    labelled file on this machine (the command line's evaluate). No example limit. Raises FormatError naming the
    file and line, ServiceError for text given to a model of numeric series or the other way round, and what
    evaluate_dataset raises for the version and options."""
    predictor = model_get(version=chosen).predictor
    checked = limits.prediction_options(predictor, options)
    examples = _read(predictor, path if isinstance(path, tuple) else str(path), format=format)
    return {"model": chosen.model.name, "version": chosen.number, "examples": len(examples),
            "metrics": predictor.evaluate(examples, checked)}


def _dataset_to_score(*, user: AbstractBaseUser | AnonymousUser, dataset_id: int, task: str) -> Dataset:
    dataset = dataset_list(user=user).filter(pk=dataset_id).first()
    if dataset is None:
        raise ServiceError(f"no dataset {dataset_id}", field="dataset")
    if dataset.status != Dataset.Status.VALID:
        raise ServiceError(f"dataset {dataset.pk} is {dataset.status}; only a valid dataset can be scored on",
                           field="dataset")
    if dataset.task != task:
        raise ServiceError(f"dataset {dataset.pk} holds {dataset.task} data; the model does {task}", field="dataset")
    return dataset


def _split_to_score(dataset: Dataset, split: str) -> str:
    """The split asked for, or dev when test was asked for and there is no test file."""
    if split not in EVALUATE_SPLITS:
        raise ServiceError(f"split must be one of {', '.join(EVALUATE_SPLITS)}, not {split!r}", field="split")
    present = set(dataset.files())
    if split in present:
        return split
    if split == "test" and "dev" in present:
        return "dev"
    missing = "test or dev file" if split == "test" else "dev file"
    raise ServiceError(f"dataset {dataset.pk} has no {missing} to score on; its training file is not scored, "
                       "since the model learned from it", field="split")


def _read(predictor: Predictor, path: str | tuple[str, str], *, format: str | None) -> list[Example]:
    """Gold examples in the model's task (forecasting: every window of the file's series). Labels the model never
    saw are an error at their line. The format options the model was trained with (XPOS tags, named columns) apply
    where the file's format takes them."""
    task = predictor.task
    format = format or guess_format(path, task=task, input=predictor.input)
    allowed = FORMAT_OPTIONS[format] + (TABLE_OPTIONS.get(task, ()) if format in ("csv", "tsv") else ())
    options = {name: value for name, value in predictor.config.data.options.items() if name in allowed}
    known = set(predictor.labels()) if predictor.task_type.output_vocab else None
    examples = read_examples(path, task=task, format=format, known_labels=known, **options)
    found = "values" if isinstance(examples[0], SeriesExample) else "tokens"
    if found != predictor.input:
        raise ServiceError(f"the file holds {_HOLDS[found]}; the model reads {_HOLDS[predictor.input]}")
    try:
        return predictor.gold_examples(examples)
    except MLError as exc:                        # a series shorter than a window
        raise ServiceError(str(exc)) from exc
