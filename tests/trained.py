"""Tiny real models for the registry and serving tests: made-up examples per task, trained with the core."""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch

from rnnservice.ml.config import config_from_dict
from rnnservice.ml.formats import ClassificationExample, GenerationExample, TaggingExample, TranslationExample
from rnnservice.ml.formats.numeric import SeriesExample
from rnnservice.ml.pipeline import train

TASK_NAMES = {"tagging": "ner", "classification": "sentiment", "translation": "de-en", "generation": "surnames"}


def tagging_examples() -> list[TaggingExample]:
    """BIO named entities; every tag of tests/data/tiny_ner.txt appears, so that file can be scored."""
    rows = [
        ("EU rejects German call", "B-ORG O B-MISC O"),
        ("Peter Blackburn visited Paris", "B-PER I-PER O B-LOC"),
        ("BRUSSELS 1996-08-22", "B-LOC O"),
        ("Anna Schmidt left Berlin .", "B-PER I-PER O B-LOC O"),
        ("UN backs French plan", "B-ORG O B-MISC O"),
        ("Li Wei saw Rome", "B-PER I-PER O B-LOC"),
        ("MADRID 1996-08-23", "B-LOC O"),
        ("Omar Haddad visited EU", "B-PER I-PER O B-ORG"),
    ]
    return [TaggingExample(text.split(), tags.split()) for text, tags in rows]


def classification_examples() -> list[ClassificationExample]:
    """Sentiment labelled 0 and 1, as in tests/data/tiny_sst.tsv."""
    good = ["a witty , charming movie .", "lovely and affecting .", "a gorgeous journey .", "great fun ."]
    bad = ["one long string of cliches .", "dull and cold .", "the acting is awful .", "boring ."]
    return [ClassificationExample(text, "1") for text in good] + [ClassificationExample(text, "0") for text in bad]


def translation_examples() -> list[TranslationExample]:
    pairs = [
        ("Ein Mann schläft.", "A man sleeps."), ("Eine Frau liest ein Buch.", "A woman reads a book."),
        ("Zwei Hunde rennen im Schnee.", "Two dogs run in the snow."), ("Ein Hund läuft.", "A dog runs."),
        ("Eine Frau schläft.", "A woman sleeps."), ("Ein Mann liest.", "A man reads."),
        ("Zwei Kinder spielen.", "Two children play."), ("Ein Kind liest ein Buch.", "A child reads a book."),
    ]
    return [TranslationExample(source, target) for source, target in pairs]


def generation_examples() -> list[GenerationExample]:
    """Surnames labelled by language, as in tests/data/tiny_names.csv (characters as tokens)."""
    names = {"Czech": ["Novak", "Dvorak", "Svoboda", "Cerny"], "English": ["Smith", "Jones", "Taylor", "Brown"],
             "Japanese": ["Abe", "Sato", "Suzuki", "Tanaka"]}
    return [GenerationExample(name, language) for language, group in names.items() for name in group]


EXAMPLES = {"tagging": tagging_examples, "classification": classification_examples,
            "translation": translation_examples, "generation": generation_examples}
TINY_ARCHITECTURE = {"embed_dim": 8, "hidden_dim": 16, "num_layers": 1}
TINY_BY_TASK = {"tagging": {"architecture": {"char_dim": 4}},
                "classification": {},
                "translation": {"tokenizer": {"kind": "bpe", "bpe_vocab_size": 100}},
                "generation": {"architecture": {"condition_dim": 4}}}


def series_classification_examples(count: int = 12) -> list[SeriesExample]:
    """Two channels of 8 to 20 frames: a sine ("sine") or a square wave ("square") on the first, noise on the
    second; the labels of tests/data/series_multi.ts are not these, so that file is a file of unseen labels."""
    rng = np.random.default_rng(0)
    examples = []
    for i in range(count):
        t = np.linspace(0, 2 * math.pi, int(rng.integers(8, 21)))
        wave = np.sin(t) if i % 2 == 0 else np.sign(np.sin(t))
        values = np.stack([wave, rng.normal(0, 0.1, len(t))], axis=1).astype(np.float32)   # (T, 2)
        examples.append(SeriesExample(values, label="sine" if i % 2 == 0 else "square"))
    return examples


def series_tagging_examples(count: int = 8) -> list[SeriesExample]:
    """One channel; a frame is tagged "beat" above 0.5, else "rest", as in tests/data/series_tagging.jsonl."""
    rng = np.random.default_rng(1)
    examples = []
    for _ in range(count):
        values = rng.random((int(rng.integers(3, 12)), 1)).astype(np.float32)             # (T, 1)
        examples.append(SeriesExample(values, tags=["beat" if v > 0.5 else "rest" for v in values[:, 0]]))
    return examples


SERIES_EXAMPLES = {"classification": series_classification_examples, "tagging": series_tagging_examples}
SERIES_NAMES = {"classification": "heartbeats", "tagging": "beats"}


def train_tiny(task: str, folder: Path) -> Path:
    """Train a tiny model of `task` for 2 epochs and save it as a model version folder at `folder`."""
    torch.set_num_threads(1)           # tiny models gain nothing from threads and lose a lot on a busy machine
    extra = TINY_BY_TASK[task]
    config = config_from_dict({"architecture": {**TINY_ARCHITECTURE, **extra.get("architecture", {})},
                               "tokenizer": extra.get("tokenizer", {}),
                               "training": {"epochs": 2, "batch_size": 4}}, task=task)
    train(config, EXAMPLES[task]()).save(folder)
    return folder


def corrupt(path: Path) -> None:
    """Flip the last byte of a file: same size, other content, as a disk error or a tampered artifact leaves it."""
    with path.open("r+b") as file:
        file.seek(-1, 2)
        last = file.read(1)
        file.seek(-1, 2)
        file.write(bytes([last[0] ^ 0xFF]))


def train_tiny_series(task: str, folder: Path) -> Path:
    """Train a tiny model of numeric series (classification or tagging) for 2 epochs and save it at `folder`."""
    torch.set_num_threads(1)
    config = config_from_dict({"architecture": {**TINY_ARCHITECTURE, "input_conv": 3},
                               "training": {"epochs": 2, "batch_size": 4}}, task=task, input="values")
    train(config, SERIES_EXAMPLES[task]()).save(folder)
    return folder


FORECAST_TINY = {"architecture": {"embed_dim": 8, "hidden_dim": 16, "segment_length": 4, "dropout": 0.0},
                 "training": {"epochs": 2, "batch_size": 8}, "data": {"lookback": 12, "horizon": 4}}


def forecast_csv(rows: int = 160) -> str:
    """Hourly: a daily sine `load`, `temp` following it with noise, and `hour`, an input the forecast may use."""
    rng = np.random.default_rng(0)
    lines = ["date,load,temp,hour"]
    for t in range(rows):
        day, hour = divmod(t, 24)
        load = 10 + 3 * math.sin(2 * math.pi * t / 24)
        lines.append(f"2024-01-{day + 1:02d} {hour:02d}:00:00,{load:.4f},{load / 2 + rng.normal(0, 0.1):.4f},{hour}")
    return "\n".join(lines) + "\n"


def train_tiny_forecaster(folder: Path, data: Path) -> Path:
    """Train a tiny forecaster of `load` and `temp` (look-back 12, horizon 4) on a forecast_csv file, saved at
    `folder`."""
    from rnnservice.ml.formats import read_examples
    torch.set_num_threads(1)
    config = config_from_dict({**FORECAST_TINY, "data": {**FORECAST_TINY["data"], "targets": ["load", "temp"]}},
                              task="forecasting", input="values")
    train(config, read_examples(str(data), task="forecasting")).save(folder)
    return folder
