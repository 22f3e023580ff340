"""The try-it panel of a version's admin page: where it sends the input (the REST prediction endpoint, as any
client) and the decoding options the version's task takes, with the core's defaults."""
from __future__ import annotations

import dataclasses
from typing import Any

from django.urls import reverse

from apps.registry.models import ModelVersion
from rnnservice.ml import tasks

# What the panel holds at first, per task: one input a person would type.
EXAMPLE_INPUTS = {"tagging": "The cat sat on the mat .", "classification": "What a wonderful film !",
                  "translation": "Ein Hund läuft im Park ."}


def decoding_fields(task: str) -> list[dict[str, Any]]:
    """The prediction options the task takes (its options_class), named and defaulted as the core's, for number
    inputs."""
    options = tasks.get(task).options_class
    if options is None:
        return []
    return [{"name": field.name, "default": field.default, "step": "any" if field.type in (float, "float") else 1}
            for field in dataclasses.fields(options)]


def try_it_context(version: ModelVersion) -> dict[str, Any]:
    task = version.model.task
    return {"url": reverse("serving:predict", args=[version.model.name]), "version": version.number, "task": task,
            "example": EXAMPLE_INPUTS.get(task, ""), "options": decoding_fields(task)}
