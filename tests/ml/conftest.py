"""Fixtures for the ml tests: tiny configs, small made-up data sets per task, and tiny trained models."""
from __future__ import annotations

import itertools

import pytest
import torch

from rnnservice.ml.config import RunConfig, config_from_dict
from rnnservice.ml.formats import ClassificationExample, GenerationExample, TaggingExample, TranslationExample
from rnnservice.ml.pipeline import TrainResult, train

# Tiny models gain nothing from more threads, and lose a lot when the machine is busy.
torch.set_num_threads(1)

TINY = {"embed_dim": 8, "hidden_dim": 16, "num_layers": 1, "dropout": 0.1}
TINY_BY_TASK = {"tagging": {"char_dim": 4}, "classification": {}, "translation": {}, "generation": {"condition_dim": 4}}


def _tiny_config(task: str, *, architecture: dict | None = None, training: dict | None = None,
                tokenizer: dict | None = None) -> RunConfig:
    data = {"architecture": {**TINY, **TINY_BY_TASK[task], **(architecture or {})},
            "training": {"epochs": 2, "batch_size": 4, **(training or {})},
            "tokenizer": {"bpe_vocab_size": 200} if task == "translation" else {}}
    data["tokenizer"].update(tokenizer or {})
    return config_from_dict(data, task=task)


def tagging_examples() -> list[TaggingExample]:
    """Named-entity sentences with BIO tags, 3 to 7 tokens long."""
    people = [("Peter", "Blackburn"), ("Anna", "Schmidt"), ("Li", "Wei"), ("Omar", "Haddad")]
    places, verbs = ["Paris", "Berlin", "Rome", "Madrid"], ["visited", "left", "saw"]
    examples = []
    for i, ((first, last), verb, place) in enumerate(itertools.product(people, verbs, places)):
        if i % 4 == 0:
            examples.append(TaggingExample([last, verb, place], ["B-PER", "O", "B-LOC"]))
        elif i % 4 == 1:
            examples.append(TaggingExample([first, last, verb, place, "in", "1996", "."],
                                           ["B-PER", "I-PER", "O", "B-LOC", "O", "O", "O"]))
        else:
            examples.append(TaggingExample([first, last, verb, place, "."], ["B-PER", "I-PER", "O", "B-LOC", "O"]))
    return examples[:24]


def classification_examples() -> list[ClassificationExample]:
    good, bad = ["great", "witty", "charming", "lovely"], ["dull", "awful", "boring", "cold"]
    nouns = ["movie", "soup", "book"]
    examples = []
    for adjective, noun in itertools.product(good + bad, nouns):
        label = "positive" if adjective in good else "negative"
        examples.append(ClassificationExample(f"A {adjective} {noun}, really.", label))
    examples.append(ClassificationExample("It was a book.", "neutral"))
    return examples


def translation_examples() -> list[TranslationExample]:
    subjects = [("der Hund", "the dog"), ("die Katze", "the cat"), ("ein Mann", "a man"), ("eine Frau", "a woman")]
    verbs = [("läuft", "runs"), ("schläft", "sleeps"), ("liest", "reads"), ("singt", "sings")]
    places = [("", ""), (" im Park", " in the park"), (" zu Hause", " at home")]
    return [TranslationExample(f"{s} {v}{p}.", f"{t} {w}{q}.")
            for (s, t), (v, w), (p, q) in itertools.product(subjects, verbs, places)][:36]


def generation_examples() -> list[GenerationExample]:
    """Surnames of two made-up languages: one ends in -ski, the other in -sen (characters as tokens)."""
    stems = ["Kowal", "Nowa", "Lewand", "Wisn", "Jan", "Ziel", "Kamin", "Dab", "Pet", "Han", "Lar", "Niel"]
    return [GenerationExample(stem + ending, label) for stem in stems
            for ending, label in (("ski", "Polish"), ("sen", "Danish"))]


EXAMPLES = {"tagging": tagging_examples, "classification": classification_examples,
            "translation": translation_examples, "generation": generation_examples}


@pytest.fixture(scope="session")
def tiny_config():
    """tiny_config(task, architecture=..., training=..., tokenizer=...) -> a RunConfig for a tiny, fast model."""
    return _tiny_config


@pytest.fixture(scope="session")
def examples():
    """examples(task) -> a fresh list of made-up examples (24 to 36) for that task."""
    return lambda task: EXAMPLES[task]()


@pytest.fixture(scope="session")
def trained() -> dict[str, TrainResult]:
    """One tiny model per task, trained for 2 epochs on the made-up data sets."""
    return {task: train(_tiny_config(task), make()) for task, make in EXAMPLES.items()}
