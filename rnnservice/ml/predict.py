"""Predictor: raw inputs (a string, {"tokens": [...]}, or {"values": [[...], ...]} for numeric series) -> output
dicts, batched. Serving calls only this."""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from rnnservice.ml.config import RunConfig
from rnnservice.ml.data import Codec, item_length
from rnnservice.ml.decoding import beam_decode, greedy_decode
from rnnservice.ml.errors import MLError
from rnnservice.ml.formats import ClassificationExample, TaggingExample, TranslationExample
from rnnservice.ml.formats.numeric import SeriesExample
from rnnservice.ml.metrics import classification_metrics, tagging_metrics, translation_metrics


class InputError(MLError):
    """A prediction input of the wrong shape; names the item (0-based) and what was expected."""

    def __init__(self, index: int, problem: str):
        super().__init__(f"inputs[{index}]: {problem}")
        self.index, self.problem = index, problem


@dataclass
class DecodeOptions:
    beam_size: int = 5
    max_length: int = 0          # 0: twice the source length plus 10, at most `length_cap`
    length_penalty: float = 1.0
    n_best: int = 1
    length_cap: int = 256


def decode_options(task: str, options: dict[str, Any]) -> DecodeOptions | None:
    """Validated decoding options; only translation takes any."""
    if task != "translation":
        if options:
            raise MLError(f"{task} takes no prediction options, got {sorted(options)}")
        return None
    known = DecodeOptions.__dataclass_fields__
    for name, value in options.items():
        if name not in known:
            raise MLError(f"options.{name}: unknown option; choose from {sorted(known)}")
        wanted = float if name == "length_penalty" else int
        if isinstance(value, bool) or not isinstance(value, (int, float) if wanted is float else int):
            raise MLError(f"options.{name}: must be a number" if wanted is float else
                          f"options.{name}: must be an integer")
    opts = DecodeOptions(**options)
    if opts.beam_size < 1 or opts.n_best < 1 or opts.max_length < 0 or opts.length_cap < 1:
        raise MLError("options: beam_size, n_best and length_cap must be at least 1, max_length at least 0")
    if not 0.0 <= opts.length_penalty <= 10.0:     # larger exponents overflow the length normalization
        raise MLError(f"options.length_penalty: must be between 0 and 10, not {opts.length_penalty!r}")
    return opts


FLOAT32_MAX = float(np.finfo(np.float32).max)


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" + ("" if n == 1 else "s")


def _is_float32(value: Any) -> bool:
    """A JSON number that is finite as a float32 (1e999 parses as inf, 1e39 overflows float32)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    try:
        return math.isfinite(value) and abs(value) <= FLOAT32_MAX
    except OverflowError:           # an int too large for a float
        return False


class Predictor:
    """A loaded model with its codec and config, on one device, ready for batched inference."""

    def __init__(self, model: nn.Module, codec: Codec, config: RunConfig, *, device: str | torch.device = "cpu",
                 batch_size: int = 64):
        self.model = model.to(device).eval()
        self.codec, self.config, self.task = codec, config, config.task
        self.device = torch.device(device)
        self.batch_size = batch_size

    @classmethod
    def load(cls, folder: str | Path, *, device: str | torch.device = "cpu") -> Predictor:
        from rnnservice.ml.artifacts import load_version
        version = load_version(folder, device=device)
        return cls(version.model, version.codec, version.config, device=device)

    @property
    def input(self) -> str:
        """tokens | values: what the model reads."""
        return self.codec.input

    def labels(self) -> list[str]:
        return list(getattr(self.codec, self.codec.vocab_name).itos)

    def nbytes(self) -> int:
        """The memory the model's weights and buffers take, in bytes."""
        tensors = [*self.model.parameters(), *self.model.buffers()]
        return sum(t.numel() * t.element_size() for t in tensors)

    def warm_up(self) -> None:
        """One tiny prediction, so that torch's lazy set-up (kernels, allocator) is not paid by a first request."""
        if self.input == "values":
            self.predict([{"values": [[0.0] * self.codec.features] * 2}])
            return
        self.predict(["warm up"], **({"beam_size": 2, "length_cap": 4} if self.task == "translation" else {}))

    def predict(self, inputs: Sequence[Any], **options: Any) -> list[dict[str, Any]]:
        """One output dict per input, in order. Translation takes DecodeOptions fields as options."""
        return self.predict_examples(self.examples(inputs), **options)

    def examples(self, inputs: Sequence[Any]) -> list[Any]:
        """Raw inputs (strings or {"tokens": [...]}; {"values": ...} for a model of numeric series) as examples of
        the task, for predict_examples. Raises InputError naming the first input of the wrong shape."""
        parse = self._series if self.input == "values" else self._example
        return [parse(i, raw) for i, raw in enumerate(inputs)]

    def _series(self, index: int, raw: Any) -> SeriesExample:
        features = self.codec.features
        shape = '{"values": [[' + ", ".join(["number"] * min(features, 2)) + (", ..." if features > 2 else "") + \
            "], ...]}" + (' or {"values": [number, ...]}' if features == 1 else "")
        if not isinstance(raw, dict) or set(raw) != {"values"} or not isinstance(raw["values"], list) \
                or not raw["values"]:
            raise InputError(index, f"expected {shape}: a numeric series of frames")
        frames = raw["values"]
        if features == 1 and not isinstance(frames[0], list):
            frames = [[v] for v in frames]                      # one channel may be a flat list of numbers
        for t, frame in enumerate(frames):
            if not isinstance(frame, list):
                raise InputError(index, f"values[{t}]: expected a frame of {_count(features, 'number')}, not "
                                        f"{type(frame).__name__}")
            if len(frame) != features:
                raise InputError(index, f"values[{t}]: the model takes {_count(features, 'feature')} per frame, "
                                        f"this frame has {len(frame)}")
            for f, v in enumerate(frame):
                if not _is_float32(v):
                    shown = repr(v) if len(repr(v)) < 40 else repr(v)[:37] + "..."
                    raise InputError(index, f"values[{t}][{f}]: expected a finite number, not {shown}")
        return SeriesExample(np.asarray(frames, dtype=np.float32))

    def _example(self, index: int, raw: Any) -> Any:
        if isinstance(raw, dict):
            tokens = raw.get("tokens")
            if set(raw) != {"tokens"} or not isinstance(tokens, list) or not tokens or \
                    not all(isinstance(t, str) and t for t in tokens):
                raise InputError(index, 'expected a string or {"tokens": [non-empty strings]}')
            text = " ".join(tokens)
        elif isinstance(raw, str) and raw.strip():
            text, tokens = raw, None
        else:
            raise InputError(index, 'expected a non-empty string or {"tokens": [...]}')
        if self.task == "tagging":
            return TaggingExample(tokens or self.codec.tokenizer.tokenize(text), None)
        if self.task == "classification":
            return ClassificationExample(text, None, tokens)
        return TranslationExample(text, None)

    @torch.inference_mode()
    def predict_examples(self, examples: Sequence[Any], **options: Any) -> list[dict[str, Any]]:
        items = [self.codec.encode(ex) for ex in examples]
        order = sorted(range(len(items)), key=lambda i: item_length(items[i]))  # similar lengths together
        outputs: list[dict[str, Any]] = [{} for _ in items]
        decode = decode_options(self.task, options)
        for start in range(0, len(order), self.batch_size):
            group = order[start:start + self.batch_size]
            batch = {k: v.to(self.device) for k, v in self.codec.collate([items[i] for i in group]).items()
                     if k in ("ids", "values", "lengths", "chars")}
            for i, out in zip(group, self._run(batch, [examples[i] for i in group], decode), strict=True):
                outputs[i] = out
        return outputs

    def _run(self, batch: dict, examples: Sequence[Any], decode: DecodeOptions | None) -> list[dict]:
        if self.task == "tagging":
            best, scores = self.model.predict(**batch)                                  # (B, T), (B, T)
            tags, probs, lengths = best.tolist(), scores.float().tolist(), batch["lengths"].tolist()
            if self.input == "values":      # one tag per frame; the frames themselves are not echoed back
                return [{"tags": self.codec.tags.decode(tags[r][:n]), "scores": [round(p, 6) for p in probs[r][:n]]}
                        for r, n in enumerate(lengths)]
            return [{"tokens": list(ex.tokens), "tags": self.codec.tags.decode(tags[r][:len(ex.tokens)]),
                     "scores": [round(p, 6) for p in probs[r][:len(ex.tokens)]]} for r, ex in enumerate(examples)]
        if self.task == "classification":
            logits, _ = self.model(**batch)
            probs = logits.float().softmax(-1).tolist()                                 # (B, K)
            names = self.codec.labels.itos
            return [{"label": names[max(range(len(p)), key=p.__getitem__)],
                     "probabilities": {n: round(v, 6) for n, v in zip(names, p, strict=True)}} for p in probs]
        return self._translate(batch, decode)

    def _translate(self, batch: dict, opts: DecodeOptions) -> list[dict]:
        # One cap per input, from its own length: an output must not depend on what it was batched with.
        lengths = batch["lengths"].cpu()
        max_length = (lengths * 2 + 10 if not opts.max_length else torch.full_like(lengths, opts.max_length))
        max_length = max_length.clamp(max=opts.length_cap)
        if opts.beam_size == 1 and opts.n_best == 1:
            nbest = [[h] for h in greedy_decode(self.model, batch["ids"], batch["lengths"], max_length=max_length,
                                                length_penalty=opts.length_penalty)]
        else:
            nbest = beam_decode(self.model, batch["ids"], batch["lengths"], beam_size=opts.beam_size,
                                max_length=max_length, length_penalty=opts.length_penalty,
                                n_best=min(opts.n_best, opts.beam_size))
        results = []
        for hyps in nbest:
            shaped = []
            for h in hyps:
                text, tokens = self.codec.detokenize(h.tokens)
                shaped.append({"translation": text, "tokens": tokens, "score": round(h.score, 6)})
            results.append({**shaped[0], "n_best": shaped} if opts.n_best > 1 else shaped[0])
        return results

    def evaluate(self, examples: Sequence[Any], **options: Any) -> dict[str, float]:
        """Score gold examples: accuracy and macro-F1 (+ entity F1 for BIO tags), or BLEU and chrF."""
        return self.score(examples, self.predict_examples(examples, **options))

    @staticmethod
    def log_loss(examples: Sequence[Any], outputs: Sequence[dict[str, Any]]) -> float | None:
        """Mean negative log-probability of the gold labels (classification), None for the other tasks. Training
        uses it to choose between epochs of equal dev accuracy, which small dev splits often have."""
        if not outputs or "probabilities" not in outputs[0]:
            return None
        return sum(-math.log(max(out["probabilities"].get(ex.label, 0.0), 1e-6))
                   for ex, out in zip(examples, outputs, strict=True)) / len(outputs)

    def score(self, examples: Sequence[Any], outputs: Sequence[dict[str, Any]]) -> dict[str, float]:
        """The metrics of `outputs` (from predict_examples) against the gold `examples`."""
        if self.task == "tagging":
            return tagging_metrics([ex.tags for ex in examples], [o["tags"] for o in outputs])
        if self.task == "classification":
            return classification_metrics([ex.label for ex in examples], [o["label"] for o in outputs])
        return translation_metrics([ex.target for ex in examples], [o["translation"] for o in outputs])
