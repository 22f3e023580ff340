"""Fixtures for the training tests: a models store per test, valid datasets from tests/data, tiny configs,
and train_model.delay recording instead of sending (test_worker.py sends for real)."""
from __future__ import annotations

from typing import Any

import pytest
import torch

from apps.datasets.models import Dataset
from apps.datasets.services import dataset_validate
from apps.training.tasks import train_model
from tests.factories import DatasetFactory

# Tiny models gain nothing from more threads, and lose a lot when the machine is busy.
torch.set_num_threads(1)

TINY_ARCHITECTURE = {"embed_dim": 8, "hidden_dim": 16, "num_layers": 1}
TINY_TRAINING = {"epochs": 2, "batch_size": 4}
# Per task: the files under tests/data, their format, and what keeps the model tiny.
TINY = {
    "tagging": ({"train": "tiny.conllu", "dev": "tiny.conllu"}, "conllu", {}, {"char_dim": 0}),
    "classification": ({"train": "tiny_sst.tsv", "dev": "tiny_sst.tsv"}, "tsv", {}, {}),
    "translation": ({"train": "tiny.de", "train_target": "tiny.en", "dev": "tiny.de", "dev_target": "tiny.en"},
                    "parallel", {"bpe_vocab_size": 100}, {}),
    "generation": ({"train": "tiny_names.csv", "dev": "tiny_names.csv"}, "csv", {}, {"condition_dim": 4}),
}


def tiny_launch(task: str = "tagging", **training: Any) -> dict[str, dict]:
    """job_launch's config sections for a tiny, fast model of `task`."""
    _, _, tokenizer, architecture = TINY[task]
    return {"tokenizer": tokenizer, "architecture": {**TINY_ARCHITECTURE, **architecture},
            "training": {**TINY_TRAINING, **training}}


def valid_dataset(owner, task: str = "tagging", **fields: Any) -> Dataset:
    """A dataset of `owner` made from tiny files under tests/data, validated here."""
    files, format, _, _ = TINY[task]
    dataset = DatasetFactory(owner=owner, task=task, format=format, files=files, **fields)
    dataset = dataset_validate(dataset_id=dataset.pk)
    assert dataset.status == Dataset.Status.VALID, dataset.error
    return dataset


@pytest.fixture(autouse=True)
def store_per_test(models_store):
    """Each test registers versions and writes checkpoints in a models store of its own (tests/conftest.py)."""
    return models_store


@pytest.fixture(autouse=True)
def sent(monkeypatch) -> list[int]:
    """The job ids train_model.delay was called with; nothing reaches the broker."""
    ids: list[int] = []
    monkeypatch.setattr(train_model, "delay", ids.append)
    return ids


@pytest.fixture
def tagging_data(alice) -> Dataset:
    return valid_dataset(alice, name="tiny ud")
