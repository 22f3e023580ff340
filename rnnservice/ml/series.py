"""Numeric series -> tensors: per-feature normalisation and the codec base that the
classification and tagging modules extend.

A series is a (T, F) array of feature vectors (an ECG beat: T samples of 1 value; a spoken vowel: T frames of 12
cepstra). Its codec learns what a text codec's vocabulary would hold: the feature count, each feature's mean and
standard deviation on the training split (applied at prediction, so a version predicts the same anywhere), and the
labels or tags.
"""
from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import Tensor
from torch.nn.utils.rnn import pad_sequence

from rnnservice.ml.data import Codec, _lengths
from rnnservice.ml.errors import MLError
from rnnservice.ml.formats.numeric import SeriesExample
from rnnservice.ml.text import Vocab

MIN_STD = 1e-6     # a constant feature keeps its scale instead of dividing by zero


class Normalizer:
    """z-scores per feature, with the statistics of the training frames."""

    def __init__(self, mean: Sequence[float], std: Sequence[float]):
        self.mean = np.asarray(mean, dtype=np.float32)
        self.std = np.asarray(std, dtype=np.float32)

    @classmethod
    def fit(cls, series: Sequence[np.ndarray]) -> Normalizer:
        frames = np.concatenate([np.asarray(s, dtype=np.float64) for s in series])      # (all frames, F)
        std = frames.std(axis=0)
        return cls(frames.mean(axis=0), np.where(std < MIN_STD, 1.0, std))

    @property
    def features(self) -> int:
        return len(self.mean)

    def __call__(self, values: np.ndarray) -> Tensor:
        return torch.from_numpy(((np.asarray(values, dtype=np.float32) - self.mean) / self.std).astype(np.float32))

    def to_dict(self) -> dict[str, list[float]]:
        return {"mean": self.mean.tolist(), "std": self.std.tolist()}


class SeriesCodec(Codec):
    """The shared part of the series codecs: the feature count and the normalisation."""

    input = "values"
    target = ""          # the key of the gold output in an encoded item: "label" or "tags"

    def __init__(self, normalizer: Normalizer, outputs: Vocab):
        self.normalizer, self.outputs = normalizer, outputs

    @property
    def features(self) -> int:
        return self.normalizer.features

    @classmethod
    def fit(cls, examples: Sequence[SeriesExample], config: Any, dev: Sequence = ()) -> SeriesCodec:
        widths = {ex.values.shape[1] for ex in [*examples, *dev]}
        if len(widths) > 1:
            raise MLError(f"the training and dev series have different feature counts: {sorted(widths)}")
        outputs = Vocab.build(cls._gold(examples, dev), specials=False)
        return cls(Normalizer.fit([ex.values for ex in examples]), outputs)

    @staticmethod
    def _gold(examples: Sequence[SeriesExample], dev: Sequence[SeriesExample]) -> Counter:
        raise NotImplementedError

    def sizes(self) -> dict[str, int]:
        return {"features": self.features, self.vocab_name: len(self.outputs)}

    def encode(self, example, *, max_length=None):
        values = example.values[:max_length]
        if values.shape[1] != self.features:
            raise MLError(f"expected {self.features} features per frame, got {values.shape[1]}")
        return {"values": self.normalizer(values)}                                     # (T, F)

    def collate(self, items):
        return {"values": pad_sequence([i["values"] for i in items], batch_first=True),  # (B, T, F), zeros after
                "lengths": _lengths(items, "values")}                                   # (B,)

    def to_dict(self):
        return {"task": self.task, "input": self.input, "normalizer": self.normalizer.to_dict(),
                self.vocab_name: self.outputs.to_dict()}

    @classmethod
    def from_dict(cls, data):
        norm = data["normalizer"]
        return cls(Normalizer(norm["mean"], norm["std"]), Vocab.from_dict(data[cls.vocab_name]))
