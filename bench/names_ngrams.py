"""A control for the surname benchmark: a linear SVM over character n-grams on the same seeded dev split.

    python -m bench.names_ngrams [--data ../shared/datasets]

A model of a different family that lands where the recurrent one does says the data, not the network,
sets the figure. Prints one JSON line per setting, then the most frequent confusions of the best.
"""
from __future__ import annotations

import argparse
import json
from collections import Counter
from pathlib import Path

from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.svm import LinearSVC

from rnnservice.ml.config import config_from_dict
from rnnservice.ml.data import split_dev
from rnnservice.ml.formats import read_examples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", type=Path, default=Path("../shared/datasets"))
    args = parser.parse_args()
    config = config_from_dict(json.loads(Path("bench/configs/names.json").read_text()), task="classification")
    train, dev = split_dev(read_examples(args.data / "names/names.tsv", task="classification"),
                           fraction=config.data.dev_fraction, seed=config.data.split_seed)
    text = lambda ex: f"^{ex.text.lower()}$"       # noqa: E731  boundary marks, as the recurrent model's <bos>/<eos>
    gold = [ex.label for ex in dev]
    best = (0.0, [])
    for ngrams in [(1, 3), (1, 4), (1, 5)]:
        vectorizer = TfidfVectorizer(analyzer="char", ngram_range=ngrams, sublinear_tf=True)
        features = vectorizer.fit_transform(text(ex) for ex in train)
        dev_features = vectorizer.transform(text(ex) for ex in dev)
        for c in [0.1, 0.3, 1.0]:
            predicted = LinearSVC(C=c).fit(features, [ex.label for ex in train]).predict(dev_features)
            accuracy = sum(p == g for p, g in zip(predicted, gold, strict=True)) / len(gold)
            print(json.dumps({"ngrams": list(ngrams), "C": c, "dev_accuracy": round(accuracy, 4)}), flush=True)
            best = max(best, (accuracy, list(predicted)), key=lambda pair: pair[0])
    confusions = Counter(f"{g} -> {p}" for g, p in zip(gold, best[1], strict=True) if g != p)
    print(json.dumps({"best_dev_accuracy": round(best[0], 4), "dev_names": len(gold),
                      "top_confusions": dict(confusions.most_common(8))}))


if __name__ == "__main__":
    main()
