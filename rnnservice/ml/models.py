"""Recurrent encoders and task heads. PyTorch only: no Django, no settings, no file I/O."""
from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence
from torchcrf import CRF

from rnnservice.ml.cells import CTRNN, CUSTOM_CELLS
from rnnservice.ml.config import ArchitectureConfig, RunConfig
from rnnservice.ml.errors import ConfigError
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
    """Token ids (or numeric frames) -> one state per step and a summary of the whole input; padding is skipped by
    packing."""

    def __init__(self, arch: ArchitectureConfig, vocab_size: int, num_chars: int = 0, word_dropout: float = 0.0,
                 features: int = 0):
        super().__init__()
        self.embed = FrameInput(features, arch.embed_dim, arch.input_conv, arch.input_noise) if features else \
            embedding(vocab_size, arch.embed_dim)
        self.chars = CharFeatures(num_chars, arch.char_dim) if arch.char_dim and num_chars else None
        input_dim = arch.embed_dim + (arch.char_dim if self.chars else 0)
        self.rnn = make_rnn(arch, input_dim, arch.hidden_dim, arch.num_layers, arch.bidirectional)
        self.drop = nn.Dropout(arch.dropout)
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
        lengths = lengths.cpu()
        if lengths.min() == lengths.max() == ids.size(1):       # no padding: packing would only cost time
            out, state = self.rnn(self.drop(x))
        else:
            packed = pack_padded_sequence(self.drop(x), lengths, batch_first=True, enforce_sorted=False)
            out, state = self.rnn(packed)
            out, _ = pad_packed_sequence(out, batch_first=True, total_length=ids.size(1))  # (B, T, D*H)
        h = state[0] if isinstance(state, tuple) else state                     # (L*D, B, H)
        final = torch.cat(list(h[-self.directions:]), dim=-1)                   # (B, D*H): last layer
        return self.drop(out), final


def padding_mask(ids: Tensor) -> Tensor:
    return ids != PAD_ID                                                          # (B, T) True at tokens


def _inputs(ids: Tensor | None, values: Tensor | None) -> Tensor:
    """The one input a model was given: token ids or numeric frames."""
    if (ids is None) == (values is None):
        raise ValueError("give token ids or numeric values, exactly one of them")
    return ids if values is None else values


class Tagger(nn.Module):
    """One label per token. Targets at padded positions are -100 and cost nothing."""

    def __init__(self, arch: ArchitectureConfig, vocab_size: int, num_tags: int, num_chars: int = 0,
                 word_dropout: float = 0.0, features: int = 0):
        super().__init__()
        self.encoder = Encoder(arch, vocab_size, num_chars, word_dropout, features)
        self.head = nn.Linear(self.encoder.out_dim, num_tags)
        self.crf = CRF(num_tags, batch_first=True) if arch.crf else None

    def forward(self, ids: Tensor | None = None, lengths: Tensor | None = None, chars: Tensor | None = None,
                tags: Tensor | None = None, values: Tensor | None = None) -> tuple[Tensor, Tensor | None]:
        """Token `ids` (B, T), or numeric `values` (B, T, F), with their `lengths` (B,)."""
        logits = self.head(self.encoder(_inputs(ids, values), lengths, chars)[0])  # (B, T, C)
        if tags is None:
            return logits, None
        if self.crf is not None:
            mask = tags != -100
            nll = -self.crf(logits.float(), tags.masked_fill(~mask, 0), mask=mask, reduction="token_mean")
            return logits, nll
        return logits, F.cross_entropy(logits.flatten(0, 1).float(), tags.flatten(), ignore_index=-100)

    @torch.no_grad()
    def predict(self, ids: Tensor | None = None, lengths: Tensor | None = None, chars: Tensor | None = None,
                values: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """Best tag ids (B, T) and the model's probability of each (B, T); padding is 0."""
        logits, _ = self(ids, lengths, chars, values=values)
        mask = length_mask(lengths, logits.size(1))
        if self.crf is None:
            probs = logits.float().softmax(-1)
            scores, best = probs.max(-1)
            return best * mask, scores * mask
        paths = self.crf.decode(logits.float(), mask=mask)
        best = torch.zeros(mask.shape, dtype=torch.long, device=logits.device)
        for row, path in enumerate(paths):
            best[row, :len(path)] = torch.tensor(path, device=logits.device)
        marginals = crf_marginals(self.crf, logits.float(), mask)                # (B, T, C)
        return best, marginals.gather(-1, best.unsqueeze(-1)).squeeze(-1) * mask


def crf_marginals(crf: CRF, emissions: Tensor, mask: Tensor) -> Tensor:
    """P(tag at t | sentence) by forward-backward, so a CRF tagger reports a true per-token probability."""
    B, T, C = emissions.shape
    trans = crf.transitions                                                       # (C from, C to)
    alpha = [crf.start_transitions + emissions[:, 0]]                             # each (B, C)
    for t in range(1, T):
        step = torch.logsumexp(alpha[-1].unsqueeze(2) + trans, dim=1) + emissions[:, t]
        alpha.append(torch.where(mask[:, t, None], step, alpha[-1]))
    beta = [None] * T
    last = mask.sum(1) - 1                                                        # (B,) index of last token
    end = crf.end_transitions.expand(B, C)
    beta[T - 1] = torch.where((last == T - 1)[:, None], end, torch.zeros_like(end))
    for t in range(T - 2, -1, -1):
        step = torch.logsumexp(trans + (emissions[:, t + 1] + beta[t + 1]).unsqueeze(1), dim=2)
        beta[t] = torch.where(mask[:, t + 1, None], step, torch.where((last == t)[:, None], end, beta[t + 1]))
    a, b = torch.stack(alpha, 1), torch.stack(beta, 1)                            # (B, T, C)
    return (a + b - torch.logsumexp(a + b, dim=-1, keepdim=True)).exp()


class Classifier(nn.Module):
    """One label per text: encoder states pooled (last state, mean, max or attention) into a linear layer."""

    def __init__(self, arch: ArchitectureConfig, vocab_size: int, num_labels: int, num_chars: int = 0,
                 word_dropout: float = 0.0, features: int = 0):
        super().__init__()
        self.encoder = Encoder(arch, vocab_size, num_chars, word_dropout, features)
        self.pooling = arch.pooling
        self.attention = nn.Linear(self.encoder.out_dim, 1) if arch.pooling == "attention" else None
        self.head = nn.Linear(self.encoder.out_dim, num_labels)

    def forward(self, ids: Tensor | None = None, lengths: Tensor | None = None, chars: Tensor | None = None,
                labels: Tensor | None = None, values: Tensor | None = None) -> tuple[Tensor, Tensor | None]:
        """Token `ids` (B, T), or numeric `values` (B, T, F), with their `lengths` (B,)."""
        states, final = self.encoder(_inputs(ids, values), lengths, chars)      # (B, T, D), (B, D)
        mask = length_mask(lengths, states.size(1)).unsqueeze(-1)                 # (B, T, 1)
        if self.pooling == "last":
            pooled = final
        elif self.pooling == "mean":
            pooled = (states * mask).sum(1) / mask.sum(1)
        elif self.pooling == "max":
            pooled = states.masked_fill(~mask, -1e4).max(1).values
        else:
            weights = self.attention(states).masked_fill(~mask, -1e4).softmax(1)  # (B, T, 1)
            pooled = (weights * states).sum(1)
        logits = self.head(pooled)                                                # (B, K)
        loss = None if labels is None else F.cross_entropy(logits.float(), labels)
        return logits, loss


class Seq2Seq(nn.Module):
    """Encoder-decoder with global (Luong) attention; the decoder RNN runs over the whole target at once
    during teacher forcing, so training uses the fused RNN kernel instead of a Python loop per step."""

    def __init__(self, arch: ArchitectureConfig, source_size: int, target_size: int,
                 word_dropout: float = 0.0, label_smoothing: float = 0.0):
        super().__init__()
        self.encoder = Encoder(arch, source_size, word_dropout=word_dropout)
        hidden = self.encoder.out_dim
        self.layers, self.cell = arch.decoder_layers, arch.cell
        self.bridge = nn.Linear(self.encoder.out_dim, hidden * arch.decoder_layers)
        self.embed = embedding(target_size, arch.embed_dim)
        self.rnn = make_rnn(arch, arch.embed_dim, hidden, arch.decoder_layers, bidirectional=False)
        self.score = nn.Linear(hidden, self.encoder.out_dim, bias=False)         # "general" attention
        self.combine = nn.Linear(hidden + self.encoder.out_dim, arch.embed_dim)
        self.out = nn.Linear(arch.embed_dim, target_size)
        if arch.tie_embeddings:
            self.out.weight = self.embed.weight
        self.drop = nn.Dropout(arch.dropout)
        self.label_smoothing = label_smoothing

    def encode(self, ids: Tensor, lengths: Tensor) -> tuple[Tensor, Tensor, State]:
        memory, final = self.encoder(ids, lengths)                               # (B, S, M), (B, M)
        h = torch.tanh(self.bridge(final)).view(-1, self.layers, self.rnn.hidden_size)
        h = h.transpose(0, 1).contiguous()                                        # (layers, B, H)
        state = (h, torch.zeros_like(h)) if self.cell in ("lstm", "peephole_lstm") else h
        return memory, padding_mask(ids), state

    def decode(self, prev: Tensor, state: State, memory: Tensor, mask: Tensor) -> tuple[Tensor, State, Tensor]:
        """Target ids so far (B, T) -> logits (B, T, V), the new state, attention (B, T, S)."""
        out, state = self.rnn(self.drop(self.embed(prev)), state)                # (B, T, H)
        scores = torch.bmm(self.score(out), memory.transpose(1, 2))              # (B, T, S)
        attn = scores.masked_fill(~mask.unsqueeze(1), -1e4).softmax(-1)
        context = torch.bmm(attn, memory)                                        # (B, T, M)
        combined = torch.tanh(self.combine(torch.cat([out, context], dim=-1)))   # (B, T, E)
        return self.out(self.drop(combined)), state, attn

    def forward(self, ids: Tensor, lengths: Tensor, target: Tensor | None = None) -> tuple[Tensor, Tensor | None]:
        memory, mask, state = self.encode(ids, lengths)
        logits, _, _ = self.decode(target[:, :-1], state, memory, mask)          # (B, T, V): teacher forcing
        loss = F.cross_entropy(logits.flatten(0, 1).float(), target[:, 1:].flatten(), ignore_index=PAD_ID,
                               label_smoothing=self.label_smoothing if self.training else 0.0)
        return logits, loss

    @staticmethod
    def reorder(state: State, index: Tensor) -> State:
        """Select batch rows of a decoder state (beam search keeps the surviving hypotheses)."""
        if isinstance(state, tuple):
            return tuple(s.index_select(1, index) for s in state)
        return state.index_select(1, index)


def build_model(config: RunConfig, sizes: dict[str, Any]) -> nn.Module:
    """The model for `config.task`; `sizes` are the vocabulary sizes the codec learned."""
    arch, train = config.architecture, config.training
    inputs = (sizes.get("words", 0), sizes.get("chars", 0), train.word_dropout)
    if config.task == "tagging":
        return Tagger(arch, inputs[0], sizes["tags"], *inputs[1:], features=sizes.get("features", 0))
    if config.task == "classification":
        return Classifier(arch, inputs[0], sizes["labels"], *inputs[1:], features=sizes.get("features", 0))
    return Seq2Seq(arch, sizes["source"], sizes["target"], train.word_dropout, train.label_smoothing)


def vocab_sizes(codec: Any) -> dict[str, int]:
    """The sizes build_model needs: the codec's vocabulary sizes, or its feature count."""
    return codec.sizes()
