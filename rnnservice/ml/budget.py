"""What a training run will cost before it starts: its model's parameter count, counted on a model built on torch's
"meta" device (shapes only, nothing allocated), and a rough peak of the memory a training step takes, from the
config and the training data's statistics. Callers compare them with their limits; nothing here reads settings."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

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


def vocab_sizes(config: RunConfig, data: DataShape) -> dict[str, int]:
    """The largest vocabularies the run can learn: at most max_vocab, at most one entry per token seen (a subword
    vocabulary at most bpe_vocab_size), plus the specials."""
    tok = config.tokenizer
    largest = min(tok.max_vocab, tok.bpe_vocab_size) if tok.kind == "bpe" else tok.max_vocab
    chars = MAX_CHARS + SPECIALS if config.architecture.char_dim else 0
    outputs = {("tags" if config.task == "tagging" else "labels"): max(1, data.labels)}
    if config.data.input == "values":
        return {"features": max(1, data.features), **outputs}
    if config.task == "translation":
        return {"source": min(largest, data.tokens) + SPECIALS, "target": min(largest, data.target_tokens) + SPECIALS}
    return {"words": min(largest, data.tokens) + SPECIALS, "chars": chars, **outputs}


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
    source = min(config.training.max_length, data.length) + 1
    directions = 2 if arch.bidirectional else 1
    layer = directions * arch.hidden_dim * (GATES[arch.cell] + 2)               # per token: gates, cell, output
    inputs = arch.embed_dim + (arch.char_dim if sizes.get("chars") else 0)
    per_source = 2 * inputs + arch.num_layers * layer + 2 * directions * arch.hidden_dim
    if sizes.get("chars"):
        per_source += (MAX_WORD_CHARS + 2) * (CHAR_EMBED + arch.char_dim) * 2
    per_target = target = 0
    if config.task == "tagging":
        per_source += 3 * sizes["tags"]
    elif config.task == "translation":
        target = min(config.training.max_length, data.target_length) + 2
        hidden = directions * arch.hidden_dim
        per_target = (2 * arch.embed_dim + arch.decoder_layers * hidden * (GATES[arch.cell] + 2)
                      + 2 * source + 2 * hidden + 2 * arch.embed_dim + 3 * sizes["target"])
    activations = 2 * batch * (source * per_source + target * per_target)
    return Estimate(parameters=parameters, memory_bytes=FLOAT * (copies * parameters + activations))
