"""Surnames generated in a language asked for (issue 18): of 1,000 sampled names (18 languages, temperature 0.8),
the share the project's own surname classifier assigns to the language asked for, and the share not in the
training file. Beside it, the share of real names (the judge's dev split) the judge assigns to their language, in
the same mix of languages: how high the judge lets the first figure go.

    python -m bench.generation [--data ../shared/datasets] [--config bench/configs/names_generation.json]
        [--set architecture.condition=init ...] [--epochs N] [--model DIR] [--temperature 0.8] [--judge DIR]
        [--mix uniform|data]

Trains the generator through `python -m rnnservice.ml train` (the path a user takes) unless --model names a
trained version, and the judge (bench/configs/names.json, the surname classifier of `bench.accuracy names`)
unless --judge names one; bench/out/names-judge is reused when it exists. Samples through the Predictor with a
fixed seed, so a run repeats. Prints one JSON line per language and a summary line last.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from rnnservice.ml.data import split_dev
from rnnservice.ml.formats import read_examples
from rnnservice.ml.predict import Predictor

SAMPLES = 1000


def train(task: str, data: Path, config: dict, out: Path, epochs: int | None) -> None:
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as file:
        json.dump(config, file)
    command = [sys.executable, "-m", "rnnservice.ml", "train", "--task", task, "--train",
               str(data / "names/names.tsv"), "--config", file.name, "--device", "cpu", "--out", str(out)]
    if epochs:
        command += ["--epochs", str(epochs)]
    subprocess.run(command, check=True)


def overridden(config: dict, settings: list[str]) -> dict:
    """`section.field=value` (value read as JSON, else a string) over the config."""
    for setting in settings:
        path, _, raw = setting.partition("=")
        section, field = path.split(".")
        try:
            value = json.loads(raw)
        except ValueError:
            value = raw
        config.setdefault(section, {})[field] = value
    return config


def mix(languages: list[str], how: str, data: Path) -> Counter[str]:
    """How many of the SAMPLES names each language gets: the same number (uniform, 55 or 56), or in proportion to
    its names in the training file (data: Russian about half), by largest remainders."""
    if how == "uniform":
        return Counter({language: SAMPLES // len(languages) + (i < SAMPLES % len(languages))
                        for i, language in enumerate(languages)})
    counts = Counter(line.split("\t")[1] for line in (data / "names/names.tsv").read_text().splitlines()[1:])
    shares = {language: SAMPLES * counts[language] / sum(counts.values()) for language in languages}
    quota = Counter({language: int(share) for language, share in shares.items()})
    by_remainder = sorted(languages, key=lambda lang: int(shares[lang]) - shares[lang])
    for language in by_remainder[:SAMPLES - sum(quota.values())]:
        quota[language] += 1
    return quota


def real_names_right(judge: Predictor, data: Path) -> dict[str, float]:
    """Per language, the share of real names the judge assigns to it: the names of the judge's own dev split (the
    seeded 10% of names.tsv it never trained on), so that the same mix of languages as the samples' says how high
    the judge lets the figure go."""
    config = judge.config
    examples = read_examples(str(data / "names/names.tsv"), task="classification", format=config.data.format)
    _, dev = split_dev(examples, fraction=config.data.dev_fraction, seed=config.data.split_seed)
    verdicts = judge.predict([ex.text for ex in dev])
    totals, right = Counter(ex.label for ex in dev), Counter(
        ex.label for ex, verdict in zip(dev, verdicts, strict=True) if verdict["label"] == ex.label)
    return {language: right[language] / count for language, count in totals.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=Path("../shared/datasets"))
    parser.add_argument("--config", type=Path, default=Path("bench/configs/names_generation.json"))
    parser.add_argument("--set", action="append", default=[], metavar="SECTION.FIELD=VALUE")
    parser.add_argument("--epochs", type=int)
    parser.add_argument("--model", type=Path, help="a trained generator version: sample only")
    parser.add_argument("--judge", type=Path, default=Path("bench/out/names-judge"))
    parser.add_argument("--judge-epochs", type=int, default=10)
    parser.add_argument("--temperature", type=float, default=0.8)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--mix", choices=("uniform", "data"), default="uniform",
                        help="names per language: the same for each (default), or as many as the file has")
    args = parser.parse_args()
    if not args.judge.exists():
        train("classification", args.data, json.loads(Path("bench/configs/names.json").read_text()), args.judge,
              args.judge_epochs)
    model = args.model
    started = time.perf_counter()
    if model is None:
        config = overridden(json.loads(args.config.read_text()), args.set)
        model = Path(tempfile.mkdtemp(prefix=f"names-generation-{time.strftime('%Y%m%d-%H%M%S')}-",
                                      dir="bench/out")) / "version"
        train("generation", args.data, config, model, args.epochs)
    trained_s = time.perf_counter() - started
    generator, judge = Predictor.load(model), Predictor.load(args.judge)
    known = {line.split("\t")[0].lower() for line in (args.data / "names/names.tsv").read_text().splitlines()[1:]}
    languages = list(generator.labels())
    per_language = mix(languages, args.mix, args.data)
    outputs = []
    for number, language in enumerate(languages):      # a seed per language: no language shares another's draws
        for start in range(0, per_language[language], 16):          # SERVING_MAX_SAMPLES' default at a time
            count = min(16, per_language[language] - start)
            [output] = generator.predict([{"label": language}], num_samples=count, temperature=args.temperature,
                                         seed=args.seed + 1000 * number + start, max_length=30)
            outputs += [(language, sample["text"]) for sample in output["samples"]]
    judged = judge.predict([text or "?" for _, text in outputs])
    right = Counter(language for (language, _), verdict in zip(outputs, judged, strict=True)
                    if verdict["label"] == language)
    novel = sum(text.lower() not in known for _, text in outputs)
    ceiling = real_names_right(judge, args.data)
    for language in languages:
        examples = [text for lang, text in outputs if lang == language][:5]
        print(json.dumps({"language": language, "samples": per_language[language],
                          "right": round(right[language] / max(per_language[language], 1), 3),
                          "real_names_right": round(ceiling[language], 3), "examples": examples},
                         ensure_ascii=False))
    info = json.loads((model / "config.json").read_text())
    print(json.dumps({"samples": len(outputs), "mix": args.mix, "temperature": args.temperature,
                      "right_language": round(sum(right.values()) / len(outputs), 4), "goal_right": 0.75,
                      "novel": round(novel / len(outputs), 4), "goal_novel": 0.80,
                      "real_names_right": round(sum(ceiling[lang] * per_language[lang] for lang in languages)
                                                / len(outputs), 4),
                      "judge_dev_accuracy": json.loads((args.judge / "config.json").read_text())["metrics"]["accuracy"],
                      "dev_perplexity": info["metrics"]["perplexity"], "best_epoch": info["best_epoch"],
                      "train_minutes": round(trained_s / 60, 1), "model": str(model),
                      "architecture": info["config"]["architecture"]}, ensure_ascii=False))


if __name__ == "__main__":
    main()
