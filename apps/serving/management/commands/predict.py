"""`manage.py predict MODEL[@VERSION|:ALIAS] TEXT...` or `--inputs FILE`: one JSON line per input, through the
serving service."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from django.core.management.base import CommandError, CommandParser

from apps.registry.management.base import ModelCommand
from apps.registry.selectors import model_reference, version_resolve
from apps.serving.services import predict


class Command(ModelCommand):
    help = ("Predict with a registered model: one JSON line per TEXT, or per line of --inputs FILE, shaped as the "
            "REST API's outputs and naming the model and version. Without @VERSION or :ALIAS: the production "
            "version, else the newest. The serving limits (SERVING_MAX_ITEMS, ...) apply.")

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("reference", metavar="MODEL[@VERSION|:ALIAS]")
        parser.add_argument("texts", metavar="TEXT", nargs="*")
        parser.add_argument("--inputs", type=Path, metavar="FILE",
                            help='one JSON value a line, as one element of the REST "inputs" array: "a text", '
                                 '{"tokens": [...]}, {"values": [[...], ...]} (numeric series) or {"prompt": "...", '
                                 '"label": "..."} (generation)')
        parser.add_argument("--beam-size", type=int, help="translation, generation: beam size (translation's "
                                                                "default 5)")
        parser.add_argument("--n-best", type=int, help="translation: hypotheses per input")
        parser.add_argument("--max-length", type=int, help="translation, generation: output tokens at most")
        parser.add_argument("--label", help="generation: the condition; with no TEXT, one input of the label alone")
        parser.add_argument("--num-samples", type=int, help="generation: samples per input")
        parser.add_argument("--temperature", type=float, help="generation: 0 is greedy (default 1)")
        parser.add_argument("--top-k", type=int, help="generation: draw among the k most likely tokens")
        parser.add_argument("--top-p", type=float, help="generation: draw among the most likely tokens of this mass")
        parser.add_argument("--seed", type=int, help="generation: the same seed draws the same samples")
        parser.add_argument("--horizon", type=int, help="forecasting: steps to forecast, at most the trained horizon")

    def handle(self, *args: Any, reference: str, texts: list[str], inputs: Path | None, label: str | None,
               **options: Any) -> None:
        if label is not None and inputs:
            raise CommandError("--label goes with TEXT prompts (or none), not with --inputs: give each input's "
                               "label there")
        if label is None and bool(texts) == bool(inputs):
            raise CommandError("give TEXT arguments or --inputs FILE (one JSON value a line), one of the two")
        if label is not None:       # generation: each TEXT a prompt with the label, or the label alone
            given = [{"prompt": text, "label": label} for text in texts] or [{"label": label}]
        else:
            given = _read_inputs(inputs) if inputs else texts
        model, version, alias = model_reference(reference=reference)
        names = ("beam_size", "n_best", "max_length", "horizon", "num_samples", "temperature", "top_k", "top_p", "seed")
        decode = {name: options[name] for name in names if options[name] is not None}
        chosen = version_resolve(model=model, version=version, alias=alias)
        answer = predict(chosen=chosen, inputs=given, options=decode)
        for output in answer["outputs"]:
            self.emit({"model": answer["model"], "version": answer["version"], **output})


def _read_inputs(path: Path) -> list[Any]:
    """The JSON value on each non-blank line of `path`; a line that is not JSON is an error naming it."""
    values, number = [], 0
    try:
        with path.open(encoding="utf-8") as lines:
            for number, line in enumerate(lines, 1):   # noqa: B007 (the error below names the line)
                if line.strip():
                    values.append(json.loads(line))
    except OSError as exc:
        raise CommandError(f"--inputs {path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise CommandError(f"--inputs {path}: not UTF-8 text") from None
    except ValueError as exc:
        raise CommandError(f"--inputs {path}, line {number}: not a JSON value ({exc})") from None
    if not values:
        raise CommandError(f"--inputs {path}: the file holds no inputs")
    return values
