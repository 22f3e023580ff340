"""Tests for rnnservice/errors.py: redact() and core_error(), the one route from the core's errors to an answer."""
from __future__ import annotations

from rnnservice.errors import core_error, redact
from rnnservice.ml.errors import ConfigError, FormatError, InputError, MLError


def test_redact_replaces_server_paths_longest_first():
    names = {"/srv/media/datasets/7/train.tsv": "train", "/srv/media/datasets/7/train.tsv.target": "train_target"}
    message = "/srv/media/datasets/7/train.tsv.target has 3 lines, /srv/media/datasets/7/train.tsv has 4"
    assert redact(message, names) == "train_target has 3 lines, train has 4"
    assert redact("in /srv/models/ner/1/weights.safetensors", {"/srv/models/": ""}) == "in ner/1/weights.safetensors"


def test_core_error_names_the_field_input_file_and_line():
    assert core_error(InputError(2, "expected a non-empty string")).extra == {"field": "inputs", "index": 2}
    assert core_error(ConfigError("training.lr", "must be positive")).extra == {"field": "training.lr"}
    assert core_error(MLError("no examples")).message == "no examples"
    error = core_error(FormatError("/srv/media/7/dev.tsv", 3, "ragged row in /srv/media/7/dev.tsv"),
                       {"/srv/media/7/dev.tsv": "dev"})
    assert (error.message, error.extra) == ("dev, line 3: ragged row in dev", {"file": "dev", "line": 3})


def test_core_error_says_no_line_for_the_file_as_a_whole():
    # FormatError's line 0 means the file as a whole: "train.tsv, line 0: ..." read as if line 0 were at fault.
    error = core_error(FormatError("/srv/media/7/train.tsv", 0, "the file is empty"))
    assert (error.message, error.extra) == ("train.tsv: the file is empty", {"file": "train.tsv"})
