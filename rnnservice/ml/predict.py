"""Predictor: raw REST inputs -> output dicts, batched. Each task module parses its inputs and shapes its outputs
(`tasks`); serving calls only this."""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from rnnservice.ml import tasks
from rnnservice.ml.config import RunConfig
from rnnservice.ml.data import Codec, item_length
from rnnservice.ml.errors import InputError

__all__ = ["InputError", "Predictor"]


class Predictor:
    """A loaded model with its codec and config, on one device, ready for batched inference."""

    def __init__(self, model: nn.Module, codec: Codec, config: RunConfig, *, device: str | torch.device = "cpu",
                 batch_size: int = 64, runner: Any = None):
        self.model = model.to(device).eval()
        # What forward passes run on: the model, or ONNX Runtime over its export (rnnservice/ml/runtime.py).
        self.runner = runner if runner is not None else self.model
        self.codec, self.config, self.task = codec, config, config.task
        self.task_type = tasks.get(config.task)
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
        """The output labels (tags or classes); empty for a task with open outputs (translation)."""
        vocab = self.task_type.output_vocab
        return list(getattr(self.codec, vocab).itos) if vocab else []

    def nbytes(self) -> int:
        """The memory the model's weights and buffers take, in bytes."""
        tensors = [*self.model.parameters(), *self.model.buffers()]
        return sum(t.numel() * t.element_size() for t in tensors)

    def warm_up(self) -> None:
        """One tiny prediction, so that torch's lazy set-up (kernels, allocator) is not paid by a first request."""
        inputs, options = self.task_type.warm_up_inputs(self.codec)
        self.predict(inputs, **options)

    def predict(self, inputs: Sequence[Any], **options: Any) -> list[dict[str, Any]]:
        """One output dict per input, in order; `options` are the task's prediction options (translation's
        decoding), checked here."""
        return self.predict_examples(self.examples(inputs), **options)

    def options(self, options: dict[str, Any]) -> Any:
        """The task's prediction options, validated once (MLError naming the option at fault)."""
        return self.task_type.parse_options(options, self.codec)

    def examples(self, inputs: Sequence[Any]) -> list[Any]:
        """Raw REST inputs as examples of the task, for predict_examples. Raises InputError naming the first input
        of the wrong shape."""
        return [self.task_type.parse_input(self.codec, i, raw) for i, raw in enumerate(inputs)]

    @torch.inference_mode()
    def predict_examples(self, examples: Sequence[Any], **options: Any) -> list[dict[str, Any]]:
        """Outputs for parsed examples (from `examples`), with the task's prediction options."""
        parsed = self.options(options)
        items = [self.codec.encode(ex) for ex in examples]
        order = sorted(range(len(items)), key=lambda i: item_length(items[i]))  # similar lengths together
        outputs: list[dict[str, Any]] = [{} for _ in items]
        wanted = self.task_type.batch_inputs
        for start in range(0, len(order), self.batch_size):
            group = order[start:start + self.batch_size]
            batch = {k: v.to(self.device) for k, v in self.codec.collate([items[i] for i in group]).items()
                     if k in wanted}
            outs = self.task_type.predict_batch(self.runner, self.codec, batch, [examples[i] for i in group], parsed)
            for i, out in zip(group, outs, strict=True):
                outputs[i] = out
        return outputs

    def gold_examples(self, examples: Sequence[Any]) -> list[Any]:
        """The examples to score from those a file held (forecasting: every window of each series)."""
        return self.task_type.gold_examples(self.config, self.codec, examples)

    def evaluate(self, examples: Sequence[Any], **options: Any) -> dict[str, float]:
        """Score gold examples with the task's metrics: from the model directly where the task computes them so
        (a language model's perplexity; the options are still checked), else from its predictions."""
        direct = self.task_type.evaluate(self.model, self.codec, self.config, examples, self.device)
        if direct is not None:
            self.options(options)
            return direct
        return self.score(examples, self.predict_examples(examples, **options))

    def score(self, examples: Sequence[Any], outputs: Sequence[dict[str, Any]]) -> dict[str, float]:
        """The metrics of `outputs` (from predict_examples) against the gold `examples`."""
        return self.task_type.score(examples, outputs)

    def dev_loss(self, examples: Sequence[Any], outputs: Sequence[dict[str, Any]]) -> float | None:
        """The task's tie-breaking loss of `outputs` against the gold `examples`, or None."""
        return self.task_type.dev_loss(examples, outputs)
