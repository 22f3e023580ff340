"""The try-it panel of a version's admin page: where it sends the input (the REST prediction endpoint, as any
client) and the decoding options the version's task takes, with the core's defaults."""
from __future__ import annotations

import dataclasses
import json
from typing import Any

from django.urls import reverse

from apps.registry.models import ModelVersion
from rnnservice.ml import tasks

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
    example, kind = EXAMPLE_INPUTS.get(task, ""), "lines"
    labels = version.info.get("labels") or []
    if task == "generation" and labels:         # a conditioned generator: the first label, as JSON
        example, kind = json.dumps({"label": labels[0]}, ensure_ascii=False), "json"
    return {"url": reverse("serving:predict", args=[version.model.name]), "version": version.number, "task": task,
            "example": example, "kind": kind, "options": decoding_fields(task)}
