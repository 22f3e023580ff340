"""Tests for rnnservice.ml.metrics on hand-computed cases."""
from __future__ import annotations

import pytest

from rnnservice.ml import tasks
from rnnservice.ml.formats import ClassificationExample, TaggingExample, TranslationExample
from rnnservice.ml.metrics import (
    accuracy,
    bleu,
    chrf,
    entity_f1,
    is_bio,
    macro_f1,
)

GOLD = ["a", "b", "c", "a"]
PREDICTED = ["a", "b", "a", "a"]


def test_it_counts_the_share_of_right_answers():
    assert accuracy(GOLD, PREDICTED) == 0.75
    assert accuracy([], []) == 0.0


def test_it_refuses_lists_of_different_lengths():
    with pytest.raises(ValueError):
        accuracy(["a", "b"], ["a"])


def test_it_averages_the_f1_of_every_label():
    # a: tp 2, fp 1, fn 0 -> 0.8;  b: 1.0;  c: tp 0 -> 0.0;  mean 0.6
    assert macro_f1(GOLD, PREDICTED) == pytest.approx(0.6)


def test_it_counts_a_label_only_predicted_in_the_macro_average():
    # x: 0.0 (never right), a: tp 1, fp 0, fn 1 -> 2/3; mean 1/3
    assert macro_f1(["a", "a"], ["a", "x"]) == pytest.approx(1 / 3)


def test_it_scores_entities_right_when_one_of_two_matches():
    gold = [["B-PER", "I-PER", "O", "B-LOC"], ["O", "O"]]
    predicted = [["B-PER", "I-PER", "O", "B-ORG"], ["O", "O"]]      # PER right, LOC labelled ORG

    assert entity_f1(gold, predicted) == pytest.approx(0.5)


def test_it_scores_only_exact_entity_spans():
    gold = [["B-PER", "I-PER", "O"]]

    assert entity_f1(gold, [["B-PER", "O", "O"]]) == 0.0              # half a name is no name
    assert entity_f1(gold, [["B-PER", "I-PER", "O"]]) == 1.0
    assert entity_f1([["O", "O"]], [["O", "O"]]) == 0.0               # no entities at all: 0, not an error


def test_it_recognises_bio_tag_sets():
    assert is_bio(["O", "B-PER", "I-PER", "B-LOC"])
    assert is_bio(["I-LOC"])
    assert not is_bio(["O"])
    assert not is_bio(["NOUN", "VERB", "DET"])
    assert not is_bio(["B-PER", "O", "NOUN"])


# The tasks' scores: each task module turns gold examples and outputs into its metrics.
def tagging_metrics(gold, predicted):
    return tasks.get("tagging").score([TaggingExample(["w"] * len(g), g) for g in gold],
                                      [{"tags": p} for p in predicted])


def classification_metrics(gold, predicted):
    return tasks.get("classification").score([ClassificationExample("text", g) for g in gold],
                                             [{"label": p} for p in predicted])


def translation_metrics(references, hypotheses):
    return tasks.get("translation").score([TranslationExample("source", r) for r in references],
                                          [{"translation": h} for h in hypotheses])


def test_it_adds_entity_f1_for_bio_tags_only():
    bio = tagging_metrics([["B-PER", "O"]], [["B-PER", "O"]])
    pos = tagging_metrics([["NOUN", "VERB"]], [["NOUN", "NOUN"]])

    assert bio == {"accuracy": 1.0, "macro_f1": 1.0, "entity_f1": 1.0}
    assert pos == {"accuracy": 0.5, "macro_f1": pytest.approx((2 / 3 + 0.0) / 2)}


def test_it_gives_classification_accuracy_and_macro_f1():
    assert classification_metrics(GOLD, PREDICTED) == {"accuracy": 0.75, "macro_f1": pytest.approx(0.6)}


def test_it_gives_identical_corpora_a_bleu_and_chrf_of_100():
    corpus = ["A man sleeps on a couch.", "Two dogs run in the snow."]

    assert bleu(corpus, corpus) == pytest.approx(100.0)
    assert chrf(corpus, corpus) == pytest.approx(100.0)


def test_it_gives_a_close_translation_a_partial_score():
    references = ["A man sleeps on a couch.", "Two dogs run in the snow."]
    hypotheses = ["A man sleeps on the sofa.", "Two dogs play in snow."]

    scores = translation_metrics(references, hypotheses)

    assert set(scores) == {"bleu", "chrf"}
    assert 0.0 < scores["chrf"] < 100.0
    assert 0.0 < scores["bleu"] < 100.0
    assert bleu(references, ["Nothing alike here.", "Entirely different words."]) < scores["bleu"]
