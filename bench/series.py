"""Numeric series classification on the public data sets, with the default config of the task (or --config).

    python -m bench.series ecg5000|japanese_vowels|basic_motions [--data ../shared/datasets] [--folds 5]
                           [--seed N] [--config FILE] [--throughput] [--jobs N]

Prints one JSON line per epoch of the dev run, then a summary: accuracy on the seeded, stratified dev split of the
training file (the split a user gets when no dev file is uploaded), and with --folds K the accuracy of a stratified
K-fold cross-validation on the whole training file (each fold's model picks its epoch on a dev split of its own
training part, never on the fold it is scored on); --jobs N trains N folds at once, in processes of one thread
each. --throughput adds our training loop against a plain PyTorch loop over the same model and batches (medians
of alternated rounds; one classifier, as an ensemble's members train one by one). The default for series
classification is an ensemble of five (training.ensemble); `--config` with {"training": {"ensemble": 1}} gives one
model, as before 2026-12-06.
"""
from __future__ import annotations

import argparse
import json
import math
import multiprocessing
import random
import statistics
import time
from pathlib import Path

import torch

from rnnservice.ml.config import config_from_dict
from rnnservice.ml.data import batches
from rnnservice.ml.formats import read_examples
from rnnservice.ml.models import build_model
from rnnservice.ml.pipeline import train
from rnnservice.ml.predict import Predictor
from rnnservice.ml.tasks.classification import SeriesClassificationCodec

BENCHES = {
    # name: training file, goal (dev accuracy), published figures on the official test split
    "ecg5000": ("ecg5000/train.tsv", 0.95, "1-NN DTW 92.4, ResNet 93.4, FCN 94.0, LSTM-FCN 94.3, ROCKET 94.7, "
                                           "WEASEL 94.8"),
    "japanese_vowels": ("japanese-vowels/JapaneseVowels_TRAIN.ts", 0.995, "ResNet 99.2, FCN 99.3, LSTM-FCN 99, "
                                                                          "MLSTM-FCN 100"),
    "basic_motions": ("basic-motions/BasicMotions_TRAIN.ts", 1.0, "most deep models 100"),
}


def folds(examples: list, k: int, seed: int) -> list[list[int]]:
    """K stratified folds of example indices: each label dealt round-robin after a seeded shuffle."""
    by_label: dict[str, list[int]] = {}
    order = list(range(len(examples)))
    random.Random(seed).shuffle(order)
    for i in order:
        by_label.setdefault(examples[i].label, []).append(i)
    parts: list[list[int]] = [[] for _ in range(k)]
    dealt = 0
    for label in sorted(by_label):
        for i in by_label[label]:
            parts[dealt % k].append(i)
            dealt += 1
    return parts


def fold_accuracy(config, examples: list, held_out: list[int]) -> tuple[float, int]:
    """Train on every example but `held_out` (its own dev split picks the epoch), score on `held_out`."""
    torch.set_num_threads(1)
    chosen = set(held_out)
    fitted = train(config, [ex for i, ex in enumerate(examples) if i not in chosen])
    test = [examples[i] for i in held_out]
    return Predictor(fitted.model, fitted.codec, fitted.config).evaluate(test)["accuracy"], fitted.fit.best_epoch


def cross_validate(config, examples: list, k: int, jobs: int) -> list[float]:
    parts = folds(examples, k, config.data.split_seed)
    with multiprocessing.get_context("fork").Pool(jobs) if jobs > 1 else _Serial() as pool:
        results = pool.starmap(fold_accuracy, [(config, examples, held_out) for held_out in parts])
    for number, ((accuracy, best_epoch), held_out) in enumerate(zip(results, parts, strict=True), 1):
        print(json.dumps({"fold": number, "examples": len(held_out), "accuracy": round(accuracy, 4),
                          "best_epoch": best_epoch}), flush=True)
    return [accuracy for accuracy, _ in results]


class _Serial:
    """The Pool interface in this process, for --jobs 1."""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def starmap(self, fn, args):
        return [fn(*a) for a in args]


def throughput(config, examples: list, min_steps: int = 60) -> dict:
    """Alternated rounds of one epoch each, at least 5 and enough for `min_steps` steps of each loop: an epoch of
    2 or 3 steps (BasicMotions) is too short for a median of 5 to settle on a shared machine."""
    from bench.throughput import our_epoch, plain_epoch

    config.training.epochs = 1
    config.training.ensemble = 1              # an ensemble's members train one by one: the loop is one model's
    codec = SeriesClassificationCodec.fit(examples, config)
    items = [codec.encode(ex) for ex in examples]
    data = [b for _, b in batches(items, codec, batch_size=config.training.batch_size, shuffle=True, seed=1)]
    rounds = max(5, math.ceil(min_steps / len(data)))
    torch.manual_seed(0)
    model = build_model(config, codec.sizes())
    initial = {k: v.clone() for k, v in model.state_dict().items()}
    ours, plain = [], []
    for _ in range(rounds):                   # alternated, so that machine noise hits both alike
        model.load_state_dict(initial)
        plain.append(plain_epoch(model, data, config.training.lr, config.training.clip))
        model.load_state_dict(initial)
        ours.append(our_epoch(model, data, config.training))
    return {"plain_frames_per_s": round(statistics.median(plain)), "ours_frames_per_s": round(statistics.median(ours)),
            "ratio": round(statistics.median(ours) / statistics.median(plain), 3), "rounds": rounds,
            "steps_per_epoch": len(data)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("name", choices=sorted(BENCHES))
    parser.add_argument("--data", type=Path, default=Path("../shared/datasets"))
    parser.add_argument("--folds", type=int, default=0, help="K for a stratified K-fold cross-validation")
    parser.add_argument("--seed", type=int, help="training seed (default: the config's)")
    parser.add_argument("--config", type=Path, help="JSON config over the task's defaults (default: none)")
    parser.add_argument("--throughput", action="store_true")
    parser.add_argument("--jobs", type=int, default=1, help="folds trained at once (processes of one thread)")
    args = parser.parse_args()
    path, goal, published = BENCHES[args.name]
    given = json.loads(args.config.read_text()) if args.config else {}
    if args.seed is not None:
        given.setdefault("training", {})["seed"] = args.seed
    config = config_from_dict(given, task="classification", input="values")
    examples = read_examples(str(args.data / path), task="classification")
    lengths = sorted(len(ex.values) for ex in examples)
    summary = {"benchmark": args.name, "examples": len(examples), "features": examples[0].values.shape[1],
               "length_min_max": [lengths[0], lengths[-1]], "threads": torch.get_num_threads(),
               "config": "default" if not args.config else str(args.config), "seed": config.training.seed,
               "goal": goal, "published_test_split": published}

    started = time.perf_counter()
    result = train(config, examples, on_epoch=lambda e: print(json.dumps(e.to_dict()), flush=True))
    summary.update(dev_accuracy=round(result.metrics["accuracy"], 4), dev_examples=result.split["dev_examples"],
                   best_epoch=result.fit.best_epoch, epochs_run=len(result.fit.history),
                   median_epoch_seconds=round(statistics.median(e.seconds for e in result.fit.history), 2),
                   train_wall_seconds=round(time.perf_counter() - started, 1))
    if "members" in result.split:             # training.ensemble: each member's seed, best epoch and dev metrics
        summary["members"] = result.split["members"]
    print(json.dumps({"dev": summary["dev_accuracy"]}), flush=True)

    if args.folds:
        scores = cross_validate(config, examples, args.folds, args.jobs)
        summary.update(cv_folds=args.folds, cv_accuracy_mean=round(statistics.mean(scores), 4),
                       cv_accuracy_per_fold=[round(s, 4) for s in scores])
    if args.throughput:
        summary["train_throughput"] = throughput(config, examples)
    summary["total_wall_minutes"] = round((time.perf_counter() - started) / 60, 1)
    print(json.dumps(summary), flush=True)


if __name__ == "__main__":
    main()
