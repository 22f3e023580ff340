"""Accuracy on the whole public data sets, trained from scratch through `python -m rnnservice.ml train`.

    python -m bench.accuracy ud_upos|conll_ner|sst2|multi30k|names|wikitext2 [--data ../shared/datasets]
        [--epochs N] [--seed S] [--batch-size B] [--quantize]

Runs the real command line (the path a user takes), streams its per-epoch JSON lines, then scores the
saved version with `evaluate` on the dev split and prints a summary line beside the goal. `--quantize` sets
`training.quantize` (taggers and classifiers of text): the summary then holds the version's runtime record, the int8
graph's dev metrics beside the float graph's and their timings.
"""
from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BENCHES = {
    # name: task, train, dev (None: the seeded 10% split), metric, goal, evaluate options
    "ud_upos": ("tagging", "ud-english-ewt/en_ewt-ud-train.conllu", "ud-english-ewt/en_ewt-ud-dev.conllu",
                "accuracy", 0.955, []),
    "conll_ner": ("tagging", "conll2003-ner/train.txt", "conll2003-ner/dev.txt", "entity_f1", 0.87, []),
    "sst2": ("classification", "sst2/train.tsv", "sst2/dev.tsv", "accuracy", 0.86, []),
    "multi30k": ("translation", "multi30k-de-en/train.de,multi30k-de-en/train.en",
                 "multi30k-de-en/val.de,multi30k-de-en/val.en", "bleu", 36.0, ["--beam-size", "5"]),
    "names": ("classification", "names/names.tsv", None, "accuracy", 0.87, []),
    # generation over running text; perplexity, lower is better (goal: at most 100)
    "wikitext2": ("generation", "wikitext-2/train.txt", "wikitext-2/valid.txt", "perplexity", 100.0, []),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("name", choices=sorted(BENCHES))
    parser.add_argument("--data", type=Path, default=Path("../shared/datasets"))
    parser.add_argument("--out", type=Path, default=Path("bench/out"))
    parser.add_argument("--epochs", type=int, help="override the config's epochs (a shorter run)")
    parser.add_argument("--seed", type=int, help="override the config's seed (another draw of the same run)")
    parser.add_argument("--batch-size", type=int, help="override the config's batch size")
    parser.add_argument("--quantize", action="store_true", help="also save an int8 graph, scored on the dev set")
    args = parser.parse_args()
    task, train, dev, metric, goal, eval_options = BENCHES[args.name]
    paths = lambda spec: ",".join(str(args.data / p) for p in spec.split(","))   # noqa: E731
    args.out.mkdir(parents=True, exist_ok=True)
    # A folder of its own, made here: two runs started in the same second must not write one version.
    out = Path(tempfile.mkdtemp(prefix=f"{args.name}-{time.strftime('%Y%m%d-%H%M%S')}-", dir=args.out))
    config = Path(f"bench/configs/{args.name}.json")
    if args.batch_size or args.quantize:
        settings = json.loads(config.read_text())
        if args.batch_size:
            settings.setdefault("training", {})["batch_size"] = args.batch_size
        if args.quantize:
            settings.setdefault("training", {})["quantize"] = True
        config = out.with_suffix(".json")
        config.write_text(json.dumps(settings))
    command = [sys.executable, "-m", "rnnservice.ml", "train", "--task", task, "--train", paths(train),
               "--config", str(config), "--device", "cpu", "--out", str(out)]
    if dev:
        command += ["--dev", paths(dev)]
    if args.epochs:
        command += ["--epochs", str(args.epochs)]
    if args.seed is not None:
        command += ["--seed", str(args.seed)]
    started = time.perf_counter()
    epochs, saved = [], {}
    with subprocess.Popen(command, stdout=subprocess.PIPE, text=True) as proc:
        for line in proc.stdout:
            print(line, end="", flush=True)
            row = json.loads(line)
            (epochs.append(row) if "epoch" in row else saved.update(row))
    if proc.returncode:
        sys.exit(f"training failed with exit status {proc.returncode}")
    wall = time.perf_counter() - started
    summary = {"benchmark": args.name, "epochs": args.epochs or "config", "batch_size": args.batch_size or "config",
               "seed": "config" if args.seed is None else args.seed, "metric": metric, "goal": goal,
               "dev_" + metric: saved.get("dev_" + metric), "best_epoch": saved["best_epoch"],
               "epochs_run": len(epochs),
               "median_epoch_seconds": round(statistics.median(e["seconds"] for e in epochs), 1),
               "median_tokens_per_s": round(statistics.median(e["tokens_per_s"] for e in epochs)),
               "train_wall_minutes": round(wall / 60, 1)}
    if dev:   # score the saved version as a user would, with the serving defaults (beam 5 for translation)
        scored = subprocess.run([sys.executable, "-m", "rnnservice.ml", "evaluate", str(out), paths(dev),
                                 *eval_options], check=True, capture_output=True, text=True)
        summary["evaluate"] = json.loads(scored.stdout.strip().splitlines()[-1])
    else:
        summary["dev_texts_labelled_otherwise_in_train"] = _contradicted(args.data / train, args.name)
    if args.quantize:
        summary["runtime"] = json.loads((out / "config.json").read_text())["runtime"]
    summary["total_wall_minutes"] = round((time.perf_counter() - started) / 60, 1)
    print(json.dumps(summary), flush=True)


def _contradicted(path: Path, name: str) -> dict:
    """For a seeded dev split: the dev examples whose text the training part holds under another label only. A
    model that learned its training data answers those wrong, so 1 - their share bounds the accuracy it can
    reach. (A deduplicated file can still hold one name under two languages.)"""
    from rnnservice.ml.config import config_from_dict
    from rnnservice.ml.data import split_dev
    from rnnservice.ml.formats import read_examples

    config = config_from_dict(json.loads(Path(f"bench/configs/{name}.json").read_text()), task="classification")
    key = (lambda text: text.lower()) if config.tokenizer.lowercase else (lambda text: text)  # noqa: E731
    train, dev = split_dev(read_examples(path, task="classification"), fraction=config.data.dev_fraction,
                           seed=config.data.split_seed)
    labels: dict[str, set[str]] = {}
    for example in train:
        labels.setdefault(key(example.text), set()).add(example.label)
    contradicted = sum(1 for ex in dev if key(ex.text) in labels and ex.label not in labels[key(ex.text)])
    return {"examples": contradicted, "of": len(dev), "accuracy_bound": round(1 - contradicted / len(dev), 4)}


if __name__ == "__main__":
    main()
