"""Statistics of parsed examples: counts, tokens, label counts and length percentiles. Plain Python, no Django."""
from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from typing import Any

from rnnservice.ml.formats import ClassificationExample, Example, TaggingExample, TranslationExample
from rnnservice.ml.text import WordTokenizer

PERCENTILES = (50, 90, 99)
HISTOGRAM_BINS = 12          # at most; the admin draws them as the data set's length chart
# Raw text (classification, translation) is counted in the words of the core's regex tokenizer; a model
# trained with characters or subwords sees other units, but words are what a person reads.
_words = WordTokenizer()


def split_statistics(examples: Sequence[Example]) -> dict[str, Any]:
    """{"examples", "tokens", "length": {"p50", "p90", "p99", "max"}, "length_histogram"} plus "labels" (tagging,
    classification) or "target_tokens" and "target_length" (translation), for the examples of one split."""
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
        else:
            targets.append(len(_words.tokenize(example.target)))
    if targets:
        stats.update(target_tokens=sum(targets), target_length=length_summary(targets))
    else:
        stats["labels"] = dict(labels.most_common())
    return stats


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
    return len(example.tokens) if example.tokens is not None else len(_words.tokenize(example.text))
