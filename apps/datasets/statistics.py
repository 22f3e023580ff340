"""Statistics of parsed examples: counts, tokens, label counts and length percentiles; for numeric series, frames,
features and each feature's mean and standard deviation. Plain Python and NumPy, no Django."""
from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np

from rnnservice.ml.formats import (
    ClassificationExample,
    Example,
    GenerationExample,
    TaggingExample,
    TranslationExample,
)
from rnnservice.ml.formats.numeric import SeriesExample
from rnnservice.ml.formats.timeseries import TimeSeries
from rnnservice.ml.text import WordTokenizer

PERCENTILES = (50, 90, 99)
HISTOGRAM_BINS = 12          # at most; the admin draws them as the data set's length chart
# Raw text (classification, translation, generation) is counted in the words of the core's regex tokenizer; a model
# trained with characters or subwords sees other units, but words are what a person reads.
_words = WordTokenizer()


def split_statistics(examples: Sequence[Example]) -> dict[str, Any]:
    """{"examples", "tokens", "length": {"p50", "p90", "p99", "max"}, "length_histogram"} plus "labels" (tagging,
    classification; generation: the conditions, {} without) or "target_tokens" and "target_length" (translation),
    for the examples of one split;
    series_statistics for numeric series."""
    if examples and isinstance(examples[0], TimeSeries):
        return timeseries_statistics(examples)
    if examples and isinstance(examples[0], SeriesExample):
        return series_statistics(examples)
    lengths = [_length(example) for example in examples]
    stats: dict[str, Any] = {"examples": len(examples), "tokens": sum(lengths), "length": length_summary(lengths),
                             "length_histogram": length_histogram(lengths)}
    labels: Counter[str] = Counter()
    targets: list[int] = []
    for example in examples:
        if isinstance(example, TaggingExample):
            labels.update(example.tags)
        elif isinstance(example, ClassificationExample):
            labels[example.label] += 1
        elif isinstance(example, GenerationExample):
            labels.update([example.label] if example.label is not None else [])
        else:
            targets.append(len(_words.tokenize(example.target)))
    if targets:
        stats.update(target_tokens=sum(targets), target_length=length_summary(targets))
    else:
        stats["labels"] = dict(labels.most_common())
    return stats


def series_statistics(examples: Sequence[SeriesExample]) -> dict[str, Any]:
    """{"examples", "frames", "length" (in frames), "length_histogram", "features", "mean", "std" (one a feature,
    over every frame of the split), "labels"} of numeric series; "labels" counts the tags of every frame for
    tagging."""
    lengths = [len(example.values) for example in examples]
    # Two passes, one series at a time in float64: no copy of the whole split, and no loss of precision from
    # summing squares of values far from zero.
    total = sum(example.values.sum(axis=0, dtype=np.float64) for example in examples)       # (F,)
    mean = total / sum(lengths)
    squares = sum(np.square(example.values - mean, dtype=np.float64).sum(axis=0) for example in examples)
    labels: Counter[str] = Counter()
    for example in examples:
        labels.update(example.tags if example.tags is not None else [example.label])
    return {"examples": len(examples), "frames": sum(lengths), "length": length_summary(lengths),
            "length_histogram": length_histogram(lengths), "features": len(mean), "mean": _rounded(mean),
            "std": _rounded(np.sqrt(squares / sum(lengths))),
            "labels": dict(labels.most_common())}


def timeseries_statistics(examples: Sequence[TimeSeries]) -> dict[str, Any]:
    """series_statistics for the tables of forecasting, less the labels, plus "columns" (the numeric columns'
    names), "start", "end" (the first and last time of any series, when the file has a time column) and "step"
    (seconds between rows)."""
    stats = series_statistics(examples)
    del stats["labels"]
    times = [example.times for example in examples if example.times is not None and len(example.times)]
    stats["columns"] = list(examples[0].columns)
    if times:
        stats.update(start=str(min(t[0] for t in times)), end=str(max(t[-1] for t in times)),
                     step=int((times[0][1] - times[0][0]) / np.timedelta64(1, "s")) if len(times[0]) > 1 else 0)
    return stats


def _rounded(values: np.ndarray) -> list[float]:
    """Six significant digits: enough to read, and the JSON stays short for many features."""
    return [float(f"{value:.6g}") for value in values.tolist()]


def length_summary(lengths: Sequence[int]) -> dict[str, int]:
    """Nearest-rank percentiles: each is a length some example really has."""
    ordered = sorted(lengths)
    if not ordered:
        return {**{f"p{p}": 0 for p in PERCENTILES}, "max": 0}
    summary = {f"p{p}": ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)] for p in PERCENTILES}
    return {**summary, "max": ordered[-1]}


def length_histogram(lengths: Sequence[int]) -> list[list[int]]:
    """[[low, high, count], ...]: how many examples are low to high long (both included), in equal bins from 0
    to the longest, at most HISTOGRAM_BINS of them; [] for no examples."""
    if not lengths:
        return []
    width = max(1, math.ceil((max(lengths) + 1) / HISTOGRAM_BINS))
    counts = Counter(length // width for length in lengths)
    return [[i * width, (i + 1) * width - 1, counts[i]] for i in range(max(lengths) // width + 1)]


def _length(example: Example) -> int:
    if isinstance(example, TaggingExample):
        return len(example.tokens)
    if isinstance(example, TranslationExample):
        return len(_words.tokenize(example.source))
    if isinstance(example, GenerationExample):
        return len(_words.tokenize(example.text))
    return len(example.tokens) if example.tokens is not None else len(_words.tokenize(example.text))
