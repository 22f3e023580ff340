"""Scores: accuracy, macro-F1, entity F1 for BIO/IOB2 tags (seqeval), BLEU and chrF (sacrebleu)."""
from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

BIO_PREFIXES = ("B-", "I-")


def accuracy(gold: Sequence[str], predicted: Sequence[str]) -> float:
    if not gold:
        return 0.0
    return sum(g == p for g, p in zip(gold, predicted, strict=True)) / len(gold)


def macro_f1(gold: Sequence[str], predicted: Sequence[str]) -> float:
    """Mean of per-label F1 over the labels that occur in the gold data or the predictions."""
    pairs = Counter(zip(gold, predicted, strict=True))
    true_pos = Counter({g: n for (g, p), n in pairs.items() if g == p})
    gold_counts, predicted_counts = Counter(gold), Counter(predicted)
    labels = set(gold_counts) | set(predicted_counts)
    if not labels:
        return 0.0
    # F1 = 2 TP / (gold + predicted) for each label
    return sum(2 * true_pos[label] / (gold_counts[label] + predicted_counts[label]) for label in labels) / len(labels)


def is_bio(tags: Sequence[str]) -> bool:
    """True when the tag set looks like BIO/IOB2: `O` and `B-`/`I-` prefixed tags only, some of them."""
    labels = set(tags)
    return any(t.startswith(BIO_PREFIXES) for t in labels) and all(
        t == "O" or t.startswith(BIO_PREFIXES) for t in labels)


def entity_f1(gold: Sequence[Sequence[str]], predicted: Sequence[Sequence[str]]) -> float:
    """Exact-match F1 over entity spans (CoNLL scoring), by seqeval in its strict IOB2 mode."""
    from seqeval.metrics import f1_score
    from seqeval.scheme import IOB2
    return float(f1_score([list(s) for s in gold], [list(s) for s in predicted], mode="strict", scheme=IOB2,
                          zero_division=0))


def bleu(references: Sequence[str], hypotheses: Sequence[str]) -> float:
    """Corpus BLEU on detokenized text (sacrebleu's default 13a tokenization), 0-100."""
    import sacrebleu
    return float(sacrebleu.corpus_bleu(list(hypotheses), [list(references)]).score)


def chrf(references: Sequence[str], hypotheses: Sequence[str]) -> float:
    import sacrebleu
    return float(sacrebleu.corpus_chrf(list(hypotheses), [list(references)]).score)
