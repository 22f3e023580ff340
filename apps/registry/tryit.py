"""The try-it panel of a version's admin page: where it sends the input (the REST prediction endpoint, as any
client) and the decoding options the version's task takes, with the core's defaults. A forecaster's panel starts
from the last window of its dataset's last file, and keeps what happened next, for the chart of the forecast
against it."""
from __future__ import annotations

import dataclasses
import json
import logging
from typing import Any

import numpy as np
from django.urls import reverse

from apps.datasets.files import data_path, dataset_paths
from apps.registry.models import ModelVersion
from rnnservice.ml import tasks
from rnnservice.ml.errors import MLError
from rnnservice.ml.formats import read_examples

logger = logging.getLogger(__name__)

# What the panel holds at first, per task: one input a person would type.
EXAMPLE_INPUTS = {"tagging": "The cat sat on the mat .", "classification": "What a wonderful film !",
                  "translation": "Ein Hund läuft im Park .", "generation": "The"}


def decoding_fields(task: str) -> list[dict[str, Any]]:
    """The prediction options the task takes (its options_class), named and defaulted as the core's, for number
    inputs."""
    options = tasks.get(task).options_class
    if options is None:
        return []
    return [{"name": field.name, "default": field.default, "step": "any" if field.type in (float, "float") else 1,
             "min": min(0, field.default)} for field in dataclasses.fields(options)]    # a seed of -1: a fresh one


def try_it_context(version: ModelVersion) -> dict[str, Any]:
    task = version.model.task
    context = {"url": reverse("serving:predict", args=[version.model.name]), "version": version.number,
               "task": task, "example": EXAMPLE_INPUTS.get(task, ""), "kind": "lines", "options": decoding_fields(task)}
    labels = version.info.get("labels") or []
    if task == "generation" and labels:         # a conditioned generator: the first label, as JSON
        context.update(example=json.dumps({"label": labels[0]}, ensure_ascii=False), kind="json")
    if task == "forecasting":
        forecast = forecast_example(version)
        context.update(forecast, kind="json" if forecast else "lines")
    return context


def forecast_example(version: ModelVersion) -> dict[str, Any]:
    """{"example": the JSON of the last `lookback` rows before the last `horizon` rows of the version's dataset
    (its test file, else dev, else train: the rows least likely to have been trained on), "forecast": {"columns",
    "targets", "actual": the target columns of those last `horizon` rows}}; {} when the version has no dataset
    or its files cannot be read (the panel then starts empty)."""
    data = version.info.get("config", {}).get("data", {})
    lookback, horizon = data.get("lookback"), data.get("horizon")
    dataset = version.dataset
    if dataset is None or not lookback or not horizon:
        return {}
    split = next((split for split in ("test", "dev") if split in dataset.files()), "train")
    try:
        with dataset_paths(dataset, [split]) as files:
            series = read_examples(data_path(files, split), task="forecasting", format=dataset.format,
                                   **data.get("options", {}))[-1]
    except (MLError, OSError) as exc:
        logger.warning("version %s: no forecast example from dataset %s: %s", version.pk, dataset.pk, exc)
        return {}
    if len(series.values) < lookback + horizon:
        return {}
    targets = data.get("targets") or series.columns
    index = [series.columns.index(name) for name in targets if name in series.columns]
    window = series.values[-(lookback + horizon):].astype(np.float64).round(6)     # float32's digits, not noise
    return {"example": json.dumps({"values": window[:lookback].tolist()}),
            "forecast": {"columns": series.columns, "targets": targets, "actual": window[lookback:, index].tolist()}}
