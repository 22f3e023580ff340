"""`python -m rnnservice.ml train|evaluate|predict`: the core from the shell, no Django, no database."""
from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from rnnservice.ml import tasks
from rnnservice.ml.artifacts import load_version
from rnnservice.ml.config import CELLS, TASKS, config_from_dict
from rnnservice.ml.errors import FormatError, MLError
from rnnservice.ml.formats import FORMATS, command_line_path, input_kind
from rnnservice.ml.pipeline import load_examples, resolve_device, train
from rnnservice.ml.predict import Predictor


def data_path(value: str) -> str | tuple[str, str]:
    try:
        return command_line_path(value)
    except FormatError as exc:
        raise argparse.ArgumentTypeError(exc.problem) from None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m rnnservice.ml", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    t = commands.add_parser("train", help="train a model and write a model version folder")
    t.add_argument("--task", required=True, choices=TASKS)
    t.add_argument("--train", required=True, type=data_path,
                   help="data file; translation: SOURCE_FILE,TARGET_FILE or a TSV")
    t.add_argument("--dev", type=data_path, help="dev data (same forms as --train); none: a seeded split of --train")
    t.add_argument("--format", choices=FORMATS, help="data format; guessed from each file when left out")
    t.add_argument("--cell", choices=CELLS)
    t.add_argument("--epochs", type=int)
    t.add_argument("--seed", type=int)
    t.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N (default: auto)")
    t.add_argument("--config", type=Path, help="JSON file: {tokenizer, architecture, training, data}")
    t.add_argument("--checkpoint-dir", type=Path, help="checkpoint each epoch here; resume if one exists")
    t.add_argument("--out", required=True, type=Path, help="the model version folder to write (must not exist)")

    e = commands.add_parser("evaluate", help="score a model version on a labelled file (forecasting: every window "
                                             "of the file's series; generation: its texts, by perplexity); JSON "
                                             "metrics last")
    e.add_argument("model", type=Path, help="model version folder")
    e.add_argument("path", type=data_path, help="data file; translation: SOURCE_FILE,TARGET_FILE or a TSV")
    e.add_argument("--format", choices=FORMATS)
    e.add_argument("--beam-size", type=int, help="translation: beam size (default 5)")
    e.add_argument("--device", default="cpu")

    p = commands.add_parser("predict", help="one JSON line per input: TEXT arguments, the lines of --inputs, "
                                            "else the lines of stdin as texts (generation: prompts)")
    p.add_argument("model", type=Path, help="model version folder")
    p.add_argument("texts", nargs="*", metavar="TEXT")
    p.add_argument("--inputs", type=Path, metavar="FILE",
                   help='one JSON value a line, as one element of the REST "inputs" array: "a text", '
                        '{"tokens": [...]}, {"values": [[...], ...]} or {"prompt": "...", "label": "..."}')
    p.add_argument("--beam-size", type=int)
    p.add_argument("--n-best", type=int, help="translation: hypotheses per input")
    p.add_argument("--max-length", type=int)
    p.add_argument("--label", help="generation: the condition; with no TEXT, one input of the label alone")
    p.add_argument("--num-samples", type=int, help="generation: samples per input")
    p.add_argument("--temperature", type=float, help="generation: 0 is greedy (default 1)")
    p.add_argument("--top-k", type=int, help="generation: draw among the k most likely tokens")
    p.add_argument("--top-p", type=float, help="generation: draw among the most likely tokens of this mass")
    p.add_argument("--seed", type=int, help="generation: the same seed draws the same samples")
    p.add_argument("--horizon", type=int, help="forecasting: steps to forecast, at most the trained horizon")
    p.add_argument("--device", default="cpu")
    return parser


def _emit(row: dict) -> None:
    print(json.dumps(row, ensure_ascii=False), flush=True)


def run_train(args: argparse.Namespace) -> None:
    try:
        data = json.loads(args.config.read_text(encoding="utf-8")) if args.config else {}
    except (ValueError, UnicodeDecodeError) as exc:
        line = getattr(exc, "lineno", 1)
        raise MLError(f"--config {args.config}, line {line}: not valid JSON ({exc})") from None
    if not isinstance(data, dict):
        raise MLError(f"{args.config}: the config must be a JSON object")
    for section, key, value in (("training", "epochs", args.epochs), ("training", "seed", args.seed),
                                ("architecture", "cell", args.cell), ("data", "format", args.format)):
        if value is not None:
            data.setdefault(section, {})[key] = value
    data_format = args.format or (data.get("data") or {}).get("format")
    config = config_from_dict(data, task=args.task, input=input_kind(args.train, task=args.task, format=data_format))
    if args.out.exists() and any(args.out.iterdir()):
        raise MLError(f"--out {args.out}: the folder exists and is not empty; a model version is never overwritten")
    device = resolve_device(args.device)
    train_examples = load_examples(config, args.train)
    dev_examples = load_examples(config, args.dev) if args.dev else None
    result = train(config, train_examples, dev_examples, device=device, checkpoint_dir=args.checkpoint_dir,
                   on_epoch=lambda epoch: _emit(epoch.to_dict()), progress=sys.stderr.isatty())
    sha = result.save(args.out)
    _emit({"saved": str(args.out), "sha256": sha, "best_epoch": result.fit.best_epoch,
           **{f"dev_{k}": v for k, v in result.metrics.items()}, "device": str(device)})


def run_evaluate(args: argparse.Namespace) -> None:
    version = load_version(args.model, device=resolve_device(args.device))
    config = version.config
    if args.format:
        config.data.format = args.format
    known = set(version.info.get("labels", [])) if tasks.get(config.task).output_vocab else None
    options = {"beam_size": args.beam_size} if args.beam_size else {}
    predictor = Predictor(version.model, version.codec, config, device=resolve_device(args.device))
    examples = predictor.gold_examples(load_examples(config, args.path, known_labels=known))
    _emit({"examples": len(examples), **predictor.evaluate(examples, predictor.options(options))})


def run_predict(args: argparse.Namespace) -> None:
    predictor = Predictor.load(args.model, device=resolve_device(args.device))
    if args.inputs and args.texts:
        raise MLError("give TEXT arguments or --inputs FILE, not both")
    if args.label is not None and args.inputs:
        raise MLError("--label goes with TEXT prompts (or none), not with --inputs: give each input's label there")
    if args.label is not None:      # generation: each TEXT a prompt with the label, or the label alone
        texts = [{"prompt": text, "label": args.label} for text in args.texts] or [{"label": args.label}]
    else:
        texts = _read_inputs(args.inputs) if args.inputs else \
            args.texts or [line.rstrip("\n") for line in sys.stdin if line.strip()]
    options = {k: v for k, v in (("beam_size", args.beam_size), ("n_best", args.n_best),
                                 ("max_length", args.max_length), ("horizon", args.horizon),
                                 ("num_samples", args.num_samples), ("temperature", args.temperature),
                                 ("top_k", args.top_k), ("top_p", args.top_p), ("seed", args.seed)) if v is not None}
    for output in predictor.predict(texts, **options):
        _emit(output)


def _read_inputs(path: Path) -> list:
    """The JSON value on each non-blank line of `path`; a line that is not JSON is an error naming it."""
    inputs = []
    with open(path, encoding="utf-8") as lines:
        for number, line in enumerate(lines, 1):
            if line.strip():
                try:
                    inputs.append(json.loads(line))
                except ValueError as exc:
                    raise MLError(f"--inputs {path}, line {number}: not a JSON value ({exc})") from None
    if not inputs:
        raise MLError(f"--inputs {path}: the file holds no inputs")
    return inputs


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        {"train": run_train, "evaluate": run_evaluate, "predict": run_predict}[args.command](args)
    except MLError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"error: {exc.filename or ''}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
