"""Helpers for the datasets tests: upload files from tests/data, run the validations a request queued."""
from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import ExitStack
from typing import Any
from unittest.mock import patch

from rest_framework.response import Response
from rest_framework.test import APIClient

from apps.datasets.tasks import validate_dataset
from tests.factories import DATA


def upload(client: APIClient, *, name: str = "tiny", task: str = "tagging", files: dict[str, str] | None = None,
           **fields: Any) -> Response:
    """POST /api/datasets/ as multipart with `files` ({"train": "tiny.conllu", ...}) read from tests/data."""
    with ExitStack() as stack:
        data = {"name": name, "task": task, **fields}
        for field, filename in (files or {"train": "tiny.conllu"}).items():
            data[field] = stack.enter_context((DATA / filename).open("rb"))
        return client.post("/api/datasets/", data, format="multipart")


def run_queued_validations(callbacks: Sequence[Callable[[], None]]) -> list[int]:
    """Run captured on_commit callbacks with validate_dataset.delay recording instead of sending, then run
    the validate_dataset task here for each dataset id it got. Returns those ids."""
    ids: list[int] = []
    with patch.object(validate_dataset, "delay", ids.append):
        for callback in callbacks:
            callback()
    for dataset_id in ids:
        validate_dataset(dataset_id)
    return ids
