"""What a training run will cost before it starts: its model's parameter count, counted on a model built on torch's
"meta" device (shapes only, nothing allocated), and a rough peak of the memory a training step takes, from the
config and the training data's statistics. Callers compare them with their limits; nothing here reads settings."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from rnnservice.ml import tasks
from rnnservice.ml.config import RunConfig
from rnnservice.ml.data import MAX_WORD_CHARS
from rnnservice.ml.models import build_model

SPECIALS = 4                         # <pad> <unk> <bos> <eos> in every vocabulary
CHAR_EMBED = 32                      # CharFeatures' character embedding
MAX_CHARS = 1_000                    # a bound on distinct characters: their embeddings are a few thousand numbers
GATES = {"lstm": 4, "gru": 3, "rnn": 1, "peephole_lstm": 4, "jordan": 1, "ctrnn": 1}
FLOAT = 4                            # bytes: parameters, states and activations are float32 (AMP only halves some)
# Copies of every parameter a run holds: weights, gradients, AdamW's two moments, the best epoch's weights.
PARAMETER_COPIES = 5


@dataclass(frozen=True)
class DataShape:
    """What the estimate needs to know of the training data: how many tokens (an upper bound on the vocabulary),
    labels and the longest input; for translation the target side's tokens and longest output."""

    tokens: int
    labels: int = 0
    length: int = 1
    target_tokens: int = 0
    target_length: int = 1
    features: int = 0                # numeric series: the values of one frame

    @classmethod
    def from_statistics(cls, split: dict[str, Any]) -> DataShape:
        """From one split's statistics as datasets record them ({"tokens", "labels", "length": {"max"}, ...})."""
        return cls(tokens=int(split.get("tokens", 0)), labels=len(split.get("labels") or {}),
                   length=max(1, int(split.get("length", {}).get("max", 1))),
                   target_tokens=int(split.get("target_tokens", 0)),
                   target_length=max(1, int(split.get("target_length", {}).get("max", 1))),
                   features=int(split.get("features", 0)))


@dataclass(frozen=True)
class Estimate:
    parameters: int
    memory_bytes: int                # peak of one training step: parameter copies plus the step's activations


def largest_vocab(config: RunConfig) -> int:
    """The most entries a learned vocabulary can have: max_vocab, or at most bpe_vocab_size for subwords."""
    tok = config.tokenizer
    return min(tok.max_vocab, tok.bpe_vocab_size) if tok.kind == "bpe" else tok.max_vocab


def text_sizes(config: RunConfig, data: DataShape) -> dict[str, int]:
    """The input sizes of an encoder over text (words, characters) or over numeric frames (the feature count): at
    most one vocabulary entry per token seen, plus the specials."""
    if config.data.input == "values":
        return {"features": max(1, data.features)}
    chars = MAX_CHARS + SPECIALS if config.architecture.char_dim else 0
    return {"words": min(largest_vocab(config), data.tokens) + SPECIALS, "chars": chars}


def source_length(config: RunConfig, data: DataShape) -> int:
    """The longest input a training batch holds, in steps."""
    return min(config.training.max_length, data.length) + 1


def vocab_sizes(config: RunConfig, data: DataShape) -> dict[str, int]:
    """The largest sizes the run can learn (its task says which)."""
    return tasks.get(config.task).budget_sizes(config, data)


def parameter_count(config: RunConfig, sizes: dict[str, int]) -> int:
    """The parameters of build_model(config, sizes), counted without allocating them (tied weights once)."""
    with torch.device("meta"):
        model = build_model(config, sizes)
    return sum(parameter.numel() for parameter in model.parameters())


def estimate(config: RunConfig, data: DataShape) -> Estimate:
    """The parameter count and a rough peak memory of a training step, in bytes. The activations are those the
    backward pass keeps (embeddings, each recurrent layer's gates and states, the output layer's logits), doubled
    for their gradients: an estimate meant to be of the right order, on the high side, not an exact count."""
    sizes = vocab_sizes(config, data)
    parameters = parameter_count(config, sizes)
    copies = PARAMETER_COPIES + (1 if config.training.average_decay else 0)
    arch, batch = config.architecture, config.training.batch_size
    source = tasks.get(config.task).budget_steps(config, data)
    directions = 2 if arch.bidirectional else 1
    layer = directions * arch.hidden_dim * (GATES[arch.cell] + 2)               # per token: gates, cell, output
    inputs = arch.embed_dim + (arch.char_dim if sizes.get("chars") else 0)
    per_source = 2 * inputs + arch.num_layers * layer + 2 * directions * arch.hidden_dim
    if sizes.get("chars"):
        per_source += (MAX_WORD_CHARS + 2) * (CHAR_EMBED + arch.char_dim) * 2
    head = tasks.get(config.task).budget_activations(config, sizes, data)
    activations = 2 * batch * (source * per_source + head)
    return Estimate(parameters=parameters, memory_bytes=FLOAT * (copies * parameters + activations))
