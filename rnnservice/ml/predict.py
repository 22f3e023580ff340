"""Predictor: raw REST inputs -> output dicts, batched. Each task module parses its inputs and shapes its outputs
(`tasks`); serving calls only this.

The path has three steps, so that a server does each once, in the thread that should pay for it: `options` checks
the prediction options, `prepare` turns inputs into examples and encodes them (an InputError names the first input
at fault; `Prepared.tokens` is what a token limit counts), and `run` predicts prepared inputs in batches. `predict`
is the three together, for the command line and tests."""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from rnnservice.ml import tasks
from rnnservice.ml.config import RunConfig
from rnnservice.ml.data import Codec, item_length
from rnnservice.ml.errors import InputError

__all__ = ["InputError", "Predictor", "Prepared"]


@dataclass(frozen=True)
class Prepared:
    """One input as the model reads it: the task's example, and its encoded item."""
    example: Any
    item: dict[str, Any]
    tokens: int                 # the input's own tokens or frames, without the markers a task adds (<bos>, <eos>)

    @property
    def steps(self) -> int:
        """The steps the model reads, markers included: what batching groups by."""
        return item_length(self.item)


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
        """One output dict per raw input, in order; `options` are the task's prediction options (translation's
        decoding, generation's sampling, forecasting's horizon)."""
        return self.run(self.prepare(inputs), self.options(options))

    def options(self, options: dict[str, Any]) -> Any:
        """The task's prediction options, checked (MLError naming the option at fault), for `run`."""
        return self.task_type.parse_options(options, self.codec)

    def prepare(self, inputs: Sequence[Any]) -> list[Prepared]:
        """Raw REST inputs as encoded examples of the task, for `run`. Raises InputError naming the first input of
        the wrong shape."""
        return self.prepare_examples([self.task_type.parse_input(self.codec, i, raw) for i, raw in enumerate(inputs)])

    def prepare_examples(self, examples: Sequence[Any]) -> list[Prepared]:
        """Examples (parsed inputs, or gold examples read from a file) encoded for `run`."""
        markers = self.task_type.input_markers
        prepared = []
        for example in examples:
            item = self.codec.encode(example)
            prepared.append(Prepared(example, item, item_length(item) - markers))
        return prepared

    @torch.inference_mode()
    def run(self, prepared: Sequence[Prepared], options: Any) -> list[dict[str, Any]]:
        """Outputs for prepared inputs, in order, with checked `options` (from `options`)."""
        outputs: list[dict[str, Any]] = [{} for _ in prepared]
        wanted = self.task_type.batch_inputs
        for indexes in self._batches(prepared):
            group = [prepared[i] for i in indexes]
            batch = {k: v.to(self.device) for k, v in self.codec.collate([p.item for p in group]).items()
                     if k in wanted}
            outs = self.task_type.predict_batch(self.runner, self.codec, batch, [p.example for p in group], options)
            for i, out in zip(indexes, outs, strict=True):
                outputs[i] = out
        return outputs

    def _batches(self, prepared: Sequence[Prepared]) -> list[list[int]]:
        """Indexes of `prepared` in batches of at most batch_size, sorted by length so that similar lengths go
        together. A runner that computes the padded steps too (ONNX Runtime's LSTM; PyTorch's packed path skips
        them) says how far a batch's lengths may spread (`length_spread`): a batch is cut where an input would be
        longer than that times the batch's shortest, plus one (bench/RESULTS.md, "The runtime")."""
        spread = getattr(self.runner, "length_spread", None)
        batches: list[list[int]] = []
        for i in sorted(range(len(prepared)), key=lambda i: prepared[i].steps):
            current = batches[-1] if batches else None
            if (current is None or len(current) == self.batch_size
                    or (spread and prepared[i].steps > spread * prepared[current[0]].steps + 1)):
                batches.append([i])
            else:
                current.append(i)
        return batches

    def gold_examples(self, examples: Sequence[Any]) -> list[Any]:
        """The examples to score from those a file held (forecasting: every window of each series)."""
        return self.task_type.gold_examples(self.config, self.codec, examples)

    def evaluate(self, examples: Sequence[Any], options: Any = None) -> dict[str, float]:
        """Score gold examples with the task's metrics, under checked `options` (from `options`; None: the task's
        defaults): from the model directly where the task computes them so (a language model's perplexity), else
        from its predictions."""
        direct = self.task_type.evaluate(self.model, self.codec, self.config, examples, self.device)
        if direct is not None:
            return direct
        parsed = self.options({}) if options is None else options
        return self.score(examples, self.run(self.prepare_examples(examples), parsed))

    def score(self, examples: Sequence[Any], outputs: Sequence[dict[str, Any]]) -> dict[str, float]:
        """The metrics of `outputs` (from `run`) against the gold `examples`."""
        return self.task_type.score(examples, outputs)

    def dev_loss(self, examples: Sequence[Any], outputs: Sequence[dict[str, Any]]) -> float | None:
        """The task's tie-breaking loss of `outputs` against the gold `examples`, or None."""
        return self.task_type.dev_loss(examples, outputs)
