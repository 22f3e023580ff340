"""Tests for rnnservice/ml/budget.py: a run's parameter count without allocating its model, and its memory."""
from __future__ import annotations

import pytest

from rnnservice.ml.budget import FLOAT, PARAMETER_COPIES, DataShape, estimate, parameter_count, vocab_sizes
from rnnservice.ml.config import config_from_dict
from rnnservice.ml.models import build_model

DATA = {
    "tagging": DataShape(tokens=5_000, labels=17, length=40),
    "classification": DataShape(tokens=5_000, labels=2, length=40),
    "translation": DataShape(tokens=5_000, length=30, target_tokens=4_000, target_length=30),
    "generation": DataShape(tokens=5_000, labels=18, length=20),
}


@pytest.mark.parametrize("task", DATA)
def test_it_counts_the_parameters_of_the_model_the_run_would_build(task):
    config = config_from_dict({"architecture": {"embed_dim": 16, "hidden_dim": 24}}, task=task)
    sizes = vocab_sizes(config, DATA[task])
    built = build_model(config, sizes)                                  # for real, on the CPU: the reference count
    assert parameter_count(config, sizes) == sum(p.numel() for p in built.parameters())
    assert estimate(config, DATA[task]).parameters == parameter_count(config, sizes)


def test_it_bounds_vocabularies_by_the_tokens_seen_and_the_tokenizer():
    config = config_from_dict({"tokenizer": {"max_vocab": 1_000}}, task="classification")
    assert vocab_sizes(config, DataShape(tokens=300, labels=3))["words"] == 304           # + <pad> <unk> <bos> <eos>
    assert vocab_sizes(config, DataShape(tokens=90_000, labels=3))["words"] == 1_004
    bpe = config_from_dict({"tokenizer": {"bpe_vocab_size": 500}}, task="translation")
    assert vocab_sizes(bpe, DATA["translation"]) == {"source": 504, "target": 504}


def test_it_sizes_a_model_of_billions_of_parameters_without_allocating_it():
    huge = config_from_dict({"architecture": {"embed_dim": 4096, "hidden_dim": 8192, "num_layers": 16}},
                            task="tagging")
    cost = estimate(huge, DataShape(tokens=200_000, labels=17, length=120))
    assert cost.parameters > 10**10                        # tens of gigabytes of float32 that were never allocated
    assert cost.memory_bytes > 4 * cost.parameters * 5     # weights, gradients, two moments, the best copy


def test_it_grows_memory_with_the_batch_and_the_length_but_not_the_parameters():
    small = estimate(config_from_dict({"training": {"batch_size": 8}}, task="translation"), DATA["translation"])
    large = estimate(config_from_dict({"training": {"batch_size": 512}}, task="translation"), DATA["translation"])
    longer = estimate(config_from_dict({"training": {"batch_size": 8}}, task="translation"),
                      DataShape(tokens=5_000, length=300, target_tokens=4_000, target_length=300))
    assert small.parameters == large.parameters == longer.parameters
    assert small.memory_bytes < large.memory_bytes and small.memory_bytes < longer.memory_bytes


def test_it_reads_a_datasets_statistics():
    split = {"examples": 10, "tokens": 120, "length": {"p50": 10, "p90": 14, "p99": 20, "max": 21},
             "labels": {"NOUN": 40, "VERB": 30, "DET": 50}}
    assert DataShape.from_statistics(split) == DataShape(tokens=120, labels=3, length=21)


def test_a_model_of_numeric_series_is_counted_from_its_feature_count():
    config = config_from_dict({}, task="classification", input="values")
    split = {"examples": 500, "frames": 70_000, "features": 12, "labels": {"1": 300, "2": 200},
             "length": {"p50": 140, "max": 140}}
    data = DataShape.from_statistics(split)
    assert vocab_sizes(config, data) == {"features": 12, "labels": 2}
    counted = estimate(config, data).parameters
    assert counted == sum(p.numel() for p in build_model(config, {"features": 12, "labels": 2}).parameters())


def test_the_convolutional_branch_of_a_series_classifier_adds_to_the_memory_estimate():
    split = {"examples": 500, "frames": 70_000, "features": 1, "labels": {"1": 300, "2": 200},
             "length": {"p50": 140, "max": 140}}
    data = DataShape.from_statistics(split)
    without, with_branch = (estimate(config_from_dict({"architecture": {"fcn": fcn}}, task="classification",
                                                      input="values"), data) for fcn in (0, 128))
    added = with_branch.parameters - without.parameters
    assert added > 0
    assert with_branch.memory_bytes - without.memory_bytes > FLOAT * PARAMETER_COPIES * added   # + activations
