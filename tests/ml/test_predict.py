"""Tests for rnnservice.ml.predict: output shapes per task, input checks naming the item, options, input order."""
from __future__ import annotations

import copy

import pytest
import torch

from rnnservice.ml.errors import MLError
from rnnservice.ml.pipeline import train
from rnnservice.ml.predict import InputError, Predictor
from rnnservice.ml.text import EOS_ID

TEXTS = {
    "tagging": ["Anna Schmidt visited Rome .", "Li left", "Omar Haddad saw Berlin in 1996 , again ."],
    "classification": ["A great soup, really.", "Awful.", "It was a dull and boring and cold book, really, sadly."],
    "translation": ["der Hund schläft.", "die Katze", "ein Mann liest zu Hause im Park, der Hund singt."],
}


def predictor(result, batch_size: int = 64) -> Predictor:
    return Predictor(result.model, result.codec, result.config, batch_size=batch_size)


@pytest.fixture(scope="module")
def plain_tagger(tiny_config, examples):
    """A tagger without a CRF (softmax scores) beside the session's CRF tagger."""
    return train(tiny_config("tagging", architecture={"crf": False}), examples("tagging"))


@pytest.mark.parametrize("crf", [True, False])
def test_it_tags_each_token_with_a_probability(trained, plain_tagger, crf):
    result = trained["tagging"] if crf else plain_tagger
    tags = set(result.codec.tags.itos)

    outputs = predictor(result).predict(TEXTS["tagging"])

    assert (result.model.crf is not None) is crf
    for text, out in zip(TEXTS["tagging"], outputs, strict=True):
        assert set(out) == {"tokens", "tags", "scores"}
        assert out["tokens"] == text.split()
        assert len(out["tags"]) == len(out["scores"]) == len(out["tokens"])
        assert set(out["tags"]) <= tags
        assert all(0.0 <= s <= 1.0 for s in out["scores"])


def test_it_classifies_with_a_probability_for_every_label(trained):
    labels = trained["classification"].codec.labels.itos

    outputs = predictor(trained["classification"]).predict(TEXTS["classification"])

    for out in outputs:
        assert set(out) == {"label", "probabilities"}
        assert sorted(out["probabilities"]) == sorted(labels) == ["negative", "neutral", "positive"]
        assert sum(out["probabilities"].values()) == pytest.approx(1.0, abs=1e-4)
        assert out["label"] == max(out["probabilities"], key=out["probabilities"].get)


def test_it_translates_to_text_tokens_and_a_score(trained):
    outputs = predictor(trained["translation"]).predict(TEXTS["translation"], beam_size=2)

    for out in outputs:
        assert set(out) == {"translation", "tokens", "score"}
        assert isinstance(out["translation"], str)
        assert all(isinstance(t, str) for t in out["tokens"])
        assert out["score"] <= 0.0                                   # a mean log-probability


def test_it_returns_n_best_translations_when_asked(trained):
    outputs = predictor(trained["translation"]).predict(TEXTS["translation"], beam_size=4, n_best=3)

    for out in outputs:
        assert set(out) == {"translation", "tokens", "score", "n_best"}
        assert len(out["n_best"]) == 3
        assert all(set(h) == {"translation", "tokens", "score"} for h in out["n_best"])
        scores = [h["score"] for h in out["n_best"]]
        assert scores == sorted(scores, reverse=True)
        assert {k: out[k] for k in ("translation", "tokens", "score")} == out["n_best"][0]


def test_it_caps_a_translation_at_max_length(trained):
    outputs = predictor(trained["translation"]).predict(TEXTS["translation"], beam_size=1, max_length=2)

    assert all(len(out["tokens"]) <= 2 for out in outputs)


@pytest.mark.parametrize("task", ["tagging", "classification", "translation"])
def test_it_takes_pre_tokenized_inputs(trained, task):
    tokens = {"tagging": ["Li", "Wei", "left", "Paris"], "classification": ["a", "lovely", "movie"],
              "translation": ["der", "Hund", "läuft", "."]}[task]

    [out] = predictor(trained[task]).predict([{"tokens": tokens}])

    if task == "tagging":
        assert out["tokens"] == tokens and len(out["tags"]) == 4
    else:
        assert out == predictor(trained[task]).predict([" ".join(tokens)])[0]


@pytest.mark.parametrize("bad", ["", "   ", 42, None, ["a", "list"], {"tokens": []}, {"tokens": [1]},
                                 {"tokens": ["ok", ""]}, {"tokens": "a b"}, {"tokens": ["a"], "lang": "en"},
                                 {"text": "a"}])
@pytest.mark.parametrize("task", ["tagging", "classification", "translation"])
def test_it_names_the_index_of_a_bad_input(trained, task, bad):
    with pytest.raises(InputError) as info:
        predictor(trained[task]).predict(["fine text", "more fine text", bad])

    assert info.value.index == 2
    assert str(info.value).startswith("inputs[2]: ")
    assert isinstance(info.value, MLError)


@pytest.mark.parametrize("options", [{"beam": 3}, {"beam_size": 0}, {"beam_size": "3"}, {"beam_size": True},
                                     {"beam_size": 2.5}, {"n_best": 0}, {"max_length": -1},
                                     {"length_penalty": "long"}, {"length_penalty": 1e6}, {"length_penalty": -1},
                                     {"length_cap": 0}])
def test_it_rejects_unknown_or_bad_translation_options(trained, options):
    with pytest.raises(MLError):
        predictor(trained["translation"]).predict(["der Hund schläft."], **options)


@pytest.mark.parametrize("task", ["tagging", "classification"])
def test_it_rejects_options_for_tasks_that_take_none(trained, task):
    with pytest.raises(MLError, match="beam_size"):
        predictor(trained[task]).predict(TEXTS[task], beam_size=2)


@pytest.mark.parametrize("task", ["tagging", "classification", "translation"])
def test_it_returns_outputs_in_input_order_although_batches_are_sorted_by_length(trained, task):
    texts = TEXTS[task] * 2 + [TEXTS[task][1] + " " + TEXTS[task][0]]        # lengths not in order
    options = {"beam_size": 2, "max_length": 12} if task == "translation" else {}

    outputs = predictor(trained[task], batch_size=2).predict(texts, **options)
    alone = [predictor(trained[task]).predict([text], **options)[0] for text in texts]

    assert len(outputs) == len(texts)
    for out, single in zip(outputs, alone, strict=True):
        if task == "tagging":
            assert (out["tokens"], out["tags"]) == (single["tokens"], single["tags"])
            assert out["scores"] == pytest.approx(single["scores"], abs=1e-5)
        elif task == "classification":
            assert out["label"] == single["label"]
            assert out["probabilities"] == pytest.approx(single["probabilities"], abs=1e-5)
        else:
            assert (out["translation"], out["tokens"]) == (single["translation"], single["tokens"])
            assert out["score"] == pytest.approx(single["score"], abs=1e-5)


@pytest.mark.parametrize("beam_size", [1, 3])
def test_it_translates_an_input_the_same_whatever_it_is_batched_with(trained, beam_size):
    model = copy.deepcopy(trained["translation"].model)
    with torch.no_grad():
        model.out.bias[EOS_ID] = -1e4                     # never ends: every output runs to the length cap
    rambler = Predictor(model, trained["translation"].codec, trained["translation"].config)
    short, long = TEXTS["translation"][1], TEXTS["translation"][2]

    [alone] = rambler.predict([short], beam_size=beam_size)
    batched, _ = rambler.predict([short, long], beam_size=beam_size)

    assert batched == alone


def test_it_scores_gold_examples_with_the_task_metrics(trained, examples):
    tagging = predictor(trained["tagging"]).evaluate(examples("tagging")[:6])
    translator = predictor(trained["translation"])
    translation = translator.evaluate(examples("translation")[:4], translator.options({"beam_size": 1}))

    assert set(tagging) == {"accuracy", "macro_f1", "entity_f1"}
    assert all(0.0 <= v <= 1.0 for v in tagging.values())
    assert set(translation) == {"bleu", "chrf"}
