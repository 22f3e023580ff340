"""Tests for rnnservice.ml.config: per-task defaults, one ConfigError per kind of mistake, saved configs reload."""
from __future__ import annotations

import json

import pytest

from rnnservice.ml.config import TASKS, RunConfig, config_from_dict
from rnnservice.ml.errors import ConfigError


def error(data: dict, task: str | None = "tagging") -> ConfigError:
    with pytest.raises(ConfigError) as info:
        config_from_dict(data, task=task)
    return info.value


def test_it_fills_in_the_defaults_of_each_task():
    tagging = config_from_dict({}, task="tagging")
    classification = config_from_dict({}, task="classification")
    translation = config_from_dict({}, task="translation")

    assert (tagging.tokenizer.kind, tagging.tokenizer.lowercase) == ("words", True)
    assert (tagging.architecture.char_dim, tagging.architecture.crf, tagging.training.epochs) == (64, None, 15)
    assert (classification.architecture.num_layers, classification.architecture.pooling) == (1, "max")
    assert (classification.training.epochs, classification.training.patience) == (10, 3)
    assert (translation.tokenizer.kind, translation.architecture.cell) == ("bpe", "gru")
    assert (translation.training.label_smoothing, translation.training.max_length) == (0.1, 100)
    assert translation.architecture.char_dim == 0


def test_it_lets_given_values_override_the_task_defaults():
    config = config_from_dict({"architecture": {"hidden_dim": 32}, "training": {"lr": 1}}, task="classification")

    assert config.architecture.hidden_dim == 32
    assert config.architecture.embed_dim == 128               # the task default stays
    assert config.training.lr == 1.0 and isinstance(config.training.lr, float)


def test_it_takes_the_task_from_the_dict():
    assert config_from_dict({"task": "translation"}).task == "translation"


@pytest.mark.parametrize("task", ["parsing", None])
def test_it_rejects_an_unknown_or_missing_task(task):
    assert error({}, task=task).field == "task"


def test_it_names_an_unknown_section():
    assert error({"optimizer": {"lr": 1e-3}}).field == "optimizer"


def test_it_names_an_unknown_field():
    err = error({"architecture": {"hidden_size": 64}})

    assert err.field == "architecture.hidden_size"
    assert "hidden_dim" in str(err)                          # lists the fields there are


def test_it_rejects_a_section_that_is_not_an_object():
    assert error({"training": [1, 2]}).field == "training"


@pytest.mark.parametrize("section, key, value", [
    ("training", "epochs", "3"),
    ("training", "epochs", 2.5),
    ("training", "epochs", True),             # a bool is no number here
    ("training", "lr", "0.01"),
    ("architecture", "bidirectional", 1),
    ("architecture", "crf", "yes"),
    ("tokenizer", "kind", 3),
    ("data", "options", ["tag_field"]),
])
def test_it_names_a_field_of_the_wrong_type(section, key, value):
    assert error({section: {key: value}}).field == f"{section}.{key}"


@pytest.mark.parametrize("section, key, value", [
    ("training", "epochs", 0),
    ("training", "lr", 0.0),
    ("training", "lr", 11),
    ("architecture", "dropout", 0.95),
    ("architecture", "hidden_dim", 100_000),
    ("architecture", "num_layers", 0),
    ("tokenizer", "min_freq", 0),
    ("data", "dev_fraction", 0.0),
    ("training", "average_decay", 1.0),           # an average that never moves
    ("training", "average_decay", -0.1),
])
def test_it_names_a_field_out_of_range(section, key, value):
    err = error({section: {key: value}})

    assert err.field == f"{section}.{key}"
    assert "between" in err.problem


@pytest.mark.parametrize("section, key, value", [
    ("architecture", "cell", "xyz"),
    ("architecture", "nonlinearity", "sigmoid"),
    ("architecture", "pooling", "sum"),
    ("tokenizer", "kind", "sentencepiece"),
    ("training", "schedule", "step"),
])
def test_it_names_a_choice_that_is_not_allowed_and_lists_the_choices(section, key, value):
    err = error({section: {key: value}}, task="classification")

    assert err.field == f"{section}.{key}"
    assert "must be one of" in err.problem


def test_it_names_a_metric_the_task_does_not_report_and_lists_those_it_does():
    err = error({"training": {"metric": "perplexity"}}, task="classification")

    assert err.field == "training.metric"
    assert err.problem == "classification reports accuracy, macro_f1, not 'perplexity'"


def test_it_lists_the_cells_when_the_cell_is_unknown():
    problem = error({"architecture": {"cell": "transformer"}}).problem

    assert all(cell in problem for cell in ("rnn", "lstm", "gru"))


@pytest.mark.parametrize("task, section, key, value", [
    ("translation", "architecture", "char_dim", 32),
    ("translation", "architecture", "crf", True),
    ("tagging", "architecture", "pooling", "attention"),
    ("classification", "architecture", "decoder_layers", 2),
    ("tagging", "architecture", "tie_embeddings", False),
    ("tagging", "training", "eval_beam_size", 4),
    ("translation", "training", "quantize", True),
])
def test_it_names_a_field_that_belongs_to_another_task(task, section, key, value):
    err = error({section: {key: value}}, task=task)

    assert err.field == f"{section}.{key}"
    assert "only" in err.problem


def test_it_accepts_another_tasks_field_when_it_repeats_the_default():
    config = config_from_dict({"architecture": {"pooling": "max", "crf": None}}, task="translation")

    assert config.architecture.pooling == "max"


@pytest.mark.parametrize("task", TASKS)
def test_it_round_trips_a_saved_full_config_for_every_task(task):
    config = config_from_dict({"training": {"epochs": 3, "seed": 7}, "data": {"options": {"x": 1}}}, task=task)

    saved = json.loads(json.dumps(config.to_dict()))          # as config.json stores it
    again = config_from_dict(saved)

    assert isinstance(again, RunConfig)
    assert again == config
    assert again.to_dict() == config.to_dict()


def test_it_round_trips_a_tagging_config_whose_crf_was_decided():
    config = config_from_dict({"architecture": {"crf": True, "char_dim": 16}}, task="tagging")

    assert config_from_dict(config.to_dict()) == config


@pytest.mark.parametrize(("field", "value"), [("training.seed", 10**29), ("training.seed", -1),
                                              ("data.split_seed", 2**32)])
def test_it_refuses_a_seed_the_random_generators_cannot_take(field, value):
    section, key = field.split(".")
    err = error({section: {key: value}}, task="tagging")
    assert err.field == field and "between 0 and 4294967295" in err.problem


@pytest.mark.parametrize(("task", "metric"), [("classification", "entity_f1"), ("translation", "accuracy"),
                                              ("tagging", "bleu")])
def test_it_refuses_a_metric_the_task_does_not_report(task, metric):
    err = error({"training": {"metric": metric}}, task=task)
    assert err.field == "training.metric" and repr(metric) in err.problem
    assert config_from_dict({"training": {"metric": "macro_f1" if task != "translation" else "chrf"}}, task=task)
