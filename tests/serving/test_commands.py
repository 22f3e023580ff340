"""Tests for the serving commands: predict and evaluate, through the same services as the API."""
from __future__ import annotations

import json
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from apps.registry.services import alias_set
from tests.factories import DATA


def run(*args: str) -> list[dict]:
    out = StringIO()
    call_command(*args, stdout=out, stderr=StringIO())
    return [json.loads(line) for line in out.getvalue().splitlines()]


def test_it_predicts_one_json_line_per_text(alice, make_version):
    make_version(alice, task="tagging")
    lines = run("predict", "ner", "Peter Blackburn visited Paris", "EU rejects German call")
    assert [(line["model"], line["version"], line["tokens"]) for line in lines] == [
        ("ner", 1, ["Peter", "Blackburn", "visited", "Paris"]), ("ner", 1, ["EU", "rejects", "German", "call"])]
    assert all(len(line["tags"]) == len(line["tokens"]) == len(line["scores"]) for line in lines)


def test_it_predicts_with_the_version_or_alias_named(alice, make_version):
    first = make_version(alice, task="translation")
    make_version(alice, task="translation")
    alias_set(model=first.model, alias="staging", version_number=1)
    assert run("predict", "de-en", "Ein Hund läuft.")[0]["version"] == 2
    assert run("predict", "de-en@1", "Ein Hund läuft.")[0]["version"] == 1
    [line] = run("predict", "de-en:staging", "Ein Hund läuft.", "--beam-size", "2", "--n-best", "2")
    assert (line["version"], len(line["n_best"])) == (1, 2)


def test_it_generates_from_a_label_alone_or_with_prompts_and_repeats_with_a_seed(alice, make_version):
    make_version(alice, task="generation")
    [alone] = run("predict", "surnames", "--label", "Czech", "--num-samples", "3", "--seed", "4",
                  "--temperature", "0.8", "--top-k", "5", "--top-p", "0.9")
    assert (alone["model"], alone["seed"], len(alone["samples"])) == ("surnames", 4, 3)
    assert run("predict", "surnames", "--label", "Czech", "--num-samples", "3", "--seed", "4", "--temperature",
               "0.8", "--top-k", "5", "--top-p", "0.9") == [alone]
    prompted = run("predict", "surnames", "No", "Sv", "--label", "Czech", "--max-length", "4")
    assert [line["samples"][0]["text"][:2] for line in prompted] == ["No", "Sv"]
    with pytest.raises(CommandError, match="--label goes with TEXT prompts"):
        run("predict", "surnames", "--label", "Czech", "--inputs", str(DATA / "tiny_names.csv"))


@pytest.mark.parametrize(("args", "message"), [
    (("nope", "text"), "no model named 'nope'"),
    (("sentiment@3", "text"), "model 'sentiment' has no version 3"),
    (("sentiment", "text", "--beam-size", "2"), "classification takes no prediction options"),
    (("sentiment", "a", "b", "c"), r"the number of inputs is 3; the limit is 2 \(SERVING_MAX_ITEMS\)"),
    (("sentiment", " "), "inputs\\[0\\]: expected a non-empty string"),
])
def test_it_refuses_what_the_service_refuses(alice, make_version, settings, args, message):
    settings.SERVING_MAX_ITEMS = 2
    make_version(alice)
    with pytest.raises(CommandError, match=message):
        run("predict", *args)


@pytest.mark.parametrize(("task", "name", "path", "metrics"), [
    ("tagging", "ner", "tiny_ner.txt", {"accuracy", "macro_f1", "entity_f1"}),
    ("classification", "sentiment", "tiny_sst.tsv", {"accuracy", "macro_f1"}),
    ("translation", "de-en", "tiny.de,tiny.en", {"bleu", "chrf"}),
    ("generation", "surnames", "tiny_names.csv", {"bits_per_char", "perplexity"}),
])
def test_it_evaluates_a_file_and_prints_metrics_last(alice, make_version, task, name, path, metrics):
    make_version(alice, task=task)
    files = ",".join(str(DATA / part) for part in path.split(","))
    *_, last = run("evaluate", name, files)
    assert (last["model"], last["version"]) == (name, 1)
    assert last["examples"] == (4 if task == "classification" else 3)
    assert metrics <= set(last)


def test_it_names_the_file_and_line_of_a_label_the_model_never_saw(alice, make_version):
    make_version(alice)
    with pytest.raises(CommandError, match=r"unseen_label.tsv, line 4: label '2' was never seen in training"):
        run("evaluate", "sentiment", str(DATA / "unseen_label.tsv"))


def test_it_evaluates_with_a_format_named_and_a_missing_file_named(alice, make_version):
    make_version(alice, task="tagging")
    assert run("evaluate", "ner@1", str(DATA / "tiny_tagging.jsonl"), "--format", "jsonl")[-1]["examples"] == 2
    with pytest.raises(CommandError, match="missing.tsv"):
        run("evaluate", "ner", str(DATA / "missing.tsv"))
