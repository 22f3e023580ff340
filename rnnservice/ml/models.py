"""The recurrent encoder and the parts heads share (each task module has its head). PyTorch only: no Django, no
settings, no file I/O."""
from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from rnnservice.ml.cells import CTRNN, CUSTOM_CELLS
from rnnservice.ml.config import ArchitectureConfig, RunConfig
from rnnservice.ml.dropout import Dropout
from rnnservice.ml.errors import ConfigError
from rnnservice.ml.padded_rnn import run_padded, runs_padded
from rnnservice.ml.text import PAD_ID, UNK_ID

CELLS = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU, **CUSTOM_CELLS}
State = Tensor | tuple[Tensor, Tensor]     # (layers*dirs, B, H); LSTM and peephole LSTM add the cell state


def make_rnn(arch: ArchitectureConfig, input_dim: int, hidden_dim: int, num_layers: int,
             bidirectional: bool) -> nn.Module:
    """The cell picked by name; dropout sits between stacked layers, never after the last."""
    if arch.cell not in CELLS:
        raise ConfigError("architecture.cell", f"must be one of {sorted(CELLS)}, not {arch.cell!r}")
    extra = {"nonlinearity": arch.nonlinearity} if arch.cell == "rnn" else \
        {"dt": arch.ctrnn_dt} if CELLS[arch.cell] is CTRNN else {}
    return CELLS[arch.cell](input_dim, hidden_dim, num_layers, batch_first=True, bidirectional=bidirectional,
                            dropout=arch.dropout if num_layers > 1 else 0.0, **extra)


def embedding(size: int, dim: int) -> nn.Embedding:
    """Small initial vectors: the default N(0, 1) saturates the recurrent gates and slows early training."""
    embed = nn.Embedding(size, dim, padding_idx=PAD_ID)
    nn.init.uniform_(embed.weight, -0.1, 0.1)
    with torch.no_grad():
        embed.weight[PAD_ID].zero_()
    return embed


class CharFeatures(nn.Module):
    """Characters of each word -> one vector per word (a CNN with max-pooling: Ma & Hovy, 2016)."""

    def __init__(self, num_chars: int, out_dim: int, char_embed: int = 32, width: int = 3):
        super().__init__()
        self.embed = embedding(num_chars, char_embed)
        self.conv = nn.Conv1d(char_embed, out_dim, width, padding=width // 2)

    def forward(self, chars: Tensor) -> Tensor:
        B, T, L = chars.shape
        x = self.embed(chars.view(B * T, L)).transpose(1, 2)                    # (B*T, E, L)
        x = self.conv(x).masked_fill((chars.view(B * T, 1, L) == PAD_ID), -1e4)  # (B*T, C, L)
        return x.max(dim=2).values.clamp(min=-1.0).view(B, T, -1)              # (B, T, C)


class FrameInput(nn.Module):
    """Numeric frames (B, T, F) -> (B, T, E), in place of an embedding: a linear projection of each frame, or a
    1-D convolution over time (`input_conv` steps wide) that sees a frame's neighbours, as the convolutional
    front ends of LSTM-FCN and DeepConvLSTM do. Padded frames are zeros and the convolution pads with zeros, so a
    series gets the same vectors alone as in a padded batch."""

    def __init__(self, features: int, dim: int, conv_width: int = 0, noise: float = 0.0):
        super().__init__()
        self.conv = nn.Conv1d(features, dim, conv_width, padding="same") if conv_width else None
        self.proj = None if conv_width else nn.Linear(features, dim)
        self.noise = noise

    def forward(self, values: Tensor) -> Tensor:
        if self.training and self.noise:
            values = values + self.noise * torch.randn_like(values)
        if self.conv is None:
            return self.proj(values)
        return F.gelu(self.conv(values.transpose(1, 2))).transpose(1, 2)


def length_mask(lengths: Tensor, steps: int) -> Tensor:
    """(B, T) True at the steps of each input, False at padding."""
    return torch.arange(steps, device=lengths.device) < lengths[:, None]


class Encoder(nn.Module):
    """Token ids (or numeric frames) -> one state per step and a summary of the whole input; padding is skipped
    (rnnservice.ml.padded_rnn on a CPU, packing elsewhere)."""

    def __init__(self, arch: ArchitectureConfig, vocab_size: int, num_chars: int = 0, word_dropout: float = 0.0,
                 features: int = 0):
        super().__init__()
        self.embed = FrameInput(features, arch.embed_dim, arch.input_conv, arch.input_noise) if features else \
            embedding(vocab_size, arch.embed_dim)
        self.chars = CharFeatures(num_chars, arch.char_dim) if arch.char_dim and num_chars else None
        input_dim = arch.embed_dim + (arch.char_dim if self.chars else 0)
        self.rnn = make_rnn(arch, input_dim, arch.hidden_dim, arch.num_layers, arch.bidirectional)
        self.drop = Dropout(arch.dropout)
        self.word_dropout = word_dropout
        self.directions = 2 if arch.bidirectional else 1
        self.out_dim = arch.hidden_dim * self.directions

    def forward(self, ids: Tensor, lengths: Tensor, chars: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """`ids` (B, T) are token ids, or (B, T, F) frames for an encoder of numeric input."""
        if self.training and self.word_dropout and not ids.is_floating_point():
            drop = (torch.rand(ids.shape, device=ids.device) < self.word_dropout) & (ids != PAD_ID)
            ids = ids.masked_fill(drop, UNK_ID)
        x = self.embed(ids)                                                      # (B, T, E)
        if self.chars is not None:
            x = torch.cat([x, self.chars(chars)], dim=-1)                        # (B, T, E+C)
        x = self.drop(x)
        if runs_padded(self.rnn, x):                # the CPU's fused layers, not torch's step loop for packing
            out, final = run_padded(self.rnn, x, lengths.to(x.device))          # (B, T, D*H), (B, D*H)
            return self.drop(out), final
        lengths = lengths.cpu()
        if lengths.min() == lengths.max() == ids.size(1):       # no padding: packing would only cost time
            out, state = self.rnn(x)
        else:
            packed = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
            out, state = self.rnn(packed)
            out, _ = pad_packed_sequence(out, batch_first=True, total_length=ids.size(1))  # (B, T, D*H)
        h = state[0] if isinstance(state, tuple) else state                     # (L*D, B, H)
        final = torch.cat(list(h[-self.directions:]), dim=-1)                   # (B, D*H): last layer
        return self.drop(out), final


def padding_mask(ids: Tensor) -> Tensor:
    return ids != PAD_ID                                                          # (B, T) True at tokens


def inputs_of(ids: Tensor | None, values: Tensor | None) -> Tensor:
    """The one input a model was given: token ids or numeric frames."""
    if (ids is None) == (values is None):
        raise ValueError("give token ids or numeric values, exactly one of them")
    return ids if values is None else values


def build_model(config: RunConfig, sizes: dict[str, Any]) -> nn.Module:
    """The model for `config.task`; `sizes` are the vocabulary sizes (or feature count) the codec learned."""
    from rnnservice.ml import tasks  # the task modules import this one
    return tasks.get(config.task).build_model(config, sizes)


def vocab_sizes(codec: Any) -> dict[str, int]:
    """The sizes build_model needs: the codec's vocabulary sizes, or its feature count."""
    return codec.sizes()
