"""Recurrent cells beyond torch's fused three: peephole LSTM, Jordan network, continuous-time RNN.

Each layer stack behaves like nn.LSTM / nn.GRU as make_rnn's callers use it: batch_first input (a PackedSequence
or a padded tensor with `lengths`), `num_layers`, `bidirectional`, dropout between layers, and (output, state)
with state (layers*dirs, B, H); the peephole LSTM's state is an (h, c) tuple like nn.LSTM's. The input
projection of every step is one matrix product; only the recurrence runs step by step, in TorchScript loops
(measured faster than torch.compile and than plain Python on CPU: bench/RESULTS.md, "Recurrent cells").
Parameter names follow torch's (`weight_ih_l0_reverse`), so safetensors checkpoints keep stable keys.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils.rnn import PackedSequence, pack_padded_sequence, pad_packed_sequence

from rnnservice.ml.dropout import dropout
from rnnservice.ml.padded_rnn import reverse_within

# Padded steps leave the state as it was and output zeros, so a sequence's last real step ends its forward run;
# the backward direction runs over each sequence reversed within its own length (see padded_rnn.reverse_within).


def peephole_steps(xw: Tensor, mask: Tensor, w_hh: Tensor, w_ch: Tensor, h: Tensor,
                   c: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """xw (B, T, 4H) = W_ih x + b; gates i, f see c_{t-1} and o sees c_t (Gers & Schmidhuber, 2000)."""
    w_ci, w_cf, w_co = w_ch.chunk(3)                                             # each (H,)
    w_hh_t = w_hh.t()
    outs: list[Tensor] = []
    for t in range(xw.size(1)):
        gates = xw[:, t] + torch.mm(h, w_hh_t)                                  # (B, 4H)
        i, f, g, o = gates.chunk(4, 1)
        c_new = torch.sigmoid(f + w_cf * c) * c + torch.sigmoid(i + w_ci * c) * torch.tanh(g)
        h_new = torch.sigmoid(o + w_co * c_new) * torch.tanh(c_new)              # (B, H)
        m = mask[:, t].unsqueeze(1)                                              # (B, 1)
        h = torch.where(m, h_new, h)
        c = torch.where(m, c_new, c)
        outs.append(h_new * m)
    return torch.stack(outs, 1), h, c                                            # (B, T, H), (B, H), (B, H)


def jordan_steps(xw: Tensor, mask: Tensor, w_hh: Tensor, w_hy: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
    """xw (B, T, H) = W_ih x + b; h_t = tanh(xw_t + U y_{t-1}), y_t = W_y h_t is both the output and the state."""
    w_hh_t, w_hy_t = w_hh.t(), w_hy.t()
    outs: list[Tensor] = []
    for t in range(xw.size(1)):
        y_new = torch.mm(torch.tanh(xw[:, t] + torch.mm(y, w_hh_t)), w_hy_t)    # (B, H)
        m = mask[:, t].unsqueeze(1)
        y = torch.where(m, y_new, y)
        outs.append(y_new * m)
    return torch.stack(outs, 1), y


def ctrnn_steps(xw: Tensor, mask: Tensor, w_hh: Tensor, rate: Tensor, h: Tensor) -> tuple[Tensor, Tensor]:
    """xw (B, T, H) = W x + b; h <- h + rate * (-h + tanh(xw_t + U h)), rate = dt / tau per unit (H,)."""
    w_hh_t = w_hh.t()
    outs: list[Tensor] = []
    for t in range(xw.size(1)):
        h_new = h + rate * (torch.tanh(xw[:, t] + torch.mm(h, w_hh_t)) - h)     # (B, H)
        m = mask[:, t].unsqueeze(1)
        h = torch.where(m, h_new, h)
        outs.append(h_new * m)
    return torch.stack(outs, 1), h


# Compiled once at import. The plain functions stay importable so bench/cells.py can time them eager and under
# torch.compile against these.
peephole_loop = torch.jit.script(peephole_steps)
jordan_loop = torch.jit.script(jordan_steps)
ctrnn_loop = torch.jit.script(ctrnn_steps)


class RecurrentStack(nn.Module):
    """Layers x directions of one cell kind. Subclasses name their gate width and extra weights, and run a loop."""

    gates = 1                                                                    # W_ih is (gates*H, input)
    state_parts = 1                                                              # 2: an (h, c) tuple

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, batch_first: bool = True,
                 bidirectional: bool = False, dropout: float = 0.0):
        super().__init__()
        if not batch_first:
            raise ValueError("these cells take batch_first input only")
        self.input_size, self.hidden_size, self.num_layers = input_size, hidden_size, num_layers
        self.bidirectional, self.dropout, self.batch_first = bidirectional, dropout, True
        self.directions = 2 if bidirectional else 1
        for layer in range(num_layers):
            size = input_size if layer == 0 else hidden_size * self.directions
            for suffix in self._suffixes(layer):
                self.register_parameter(f"weight_ih{suffix}", nn.Parameter(torch.empty(self.gates * hidden_size, size)))
                self.register_parameter(f"weight_hh{suffix}",
                                        nn.Parameter(torch.empty(self.gates * hidden_size, hidden_size)))
                self.register_parameter(f"bias{suffix}", nn.Parameter(torch.empty(self.gates * hidden_size)))
                self.extra_parameters(suffix)
        self.reset_parameters()

    def _suffixes(self, layer: int) -> list[str]:
        return [f"_l{layer}", f"_l{layer}_reverse"][:self.directions]

    def extra_parameters(self, suffix: str) -> None:
        """Register the cell's own parameters for one layer and direction."""

    def reset_parameters(self) -> None:
        """U(-1/sqrt(H), 1/sqrt(H)) as torch's RNNs; subclasses then set their own parameters."""
        bound = 1.0 / math.sqrt(self.hidden_size)
        for weight in self.parameters():
            nn.init.uniform_(weight, -bound, bound)

    def run(self, xw: Tensor, mask: Tensor, suffix: str,
            state: tuple[Tensor, ...]) -> tuple[Tensor, tuple[Tensor, ...]]:
        """One layer and direction: xw (B, T, gates*H), mask (B, T) -> outputs (B, T, H) and the final state."""
        raise NotImplementedError

    def initial_state(self, hx: Tensor | tuple[Tensor, Tensor] | None, batch: int, like: Tensor) -> list[Tensor]:
        """The state as a list of (layers*dirs, B, H) tensors; zeros when none is given."""
        if hx is None:
            zeros = like.new_zeros(self.num_layers * self.directions, batch, self.hidden_size)
            return [zeros] * self.state_parts
        return list(hx) if isinstance(hx, tuple) else [hx]

    def forward(self, input: Tensor | PackedSequence, hx: Tensor | tuple[Tensor, Tensor] | None = None,
                lengths: Tensor | None = None) -> tuple[Tensor | PackedSequence, Tensor | tuple[Tensor, Tensor]]:
        """A PackedSequence, or a padded batch (B, T, I) with `lengths` (B,) (none: every row is T long)."""
        packed = input if isinstance(input, PackedSequence) else None
        if packed is not None:
            x, lengths = pad_packed_sequence(packed, batch_first=True)          # (B, T, I), the caller's order
        else:
            x = input
            lengths = torch.full((x.size(0),), x.size(1)) if lengths is None else lengths
        lengths = lengths.to(x.device)
        mask = torch.arange(x.size(1), device=x.device) < lengths[:, None]      # (B, T)
        state = self.initial_state(hx, x.size(0), x)
        finals: list[list[Tensor]] = [[] for _ in state]
        for layer in range(self.num_layers):
            x = self._layer(layer, x, lengths, mask, state, finals)              # (B, T, D*H)
            if layer < self.num_layers - 1 and self.dropout:
                x = dropout(x, self.dropout, self.training)                     # between layers, not after last
        final = [torch.stack(part) for part in finals]                          # each (layers*dirs, B, H)
        new_state = tuple(final) if self.state_parts == 2 else final[0]
        return (x if packed is None else self._repack(x, lengths, packed)), new_state

    def _layer(self, layer: int, x: Tensor, lengths: Tensor, mask: Tensor, state: list[Tensor],
               finals: list[list[Tensor]]) -> Tensor:
        """Both directions of one layer; appends each direction's final state to `finals`."""
        outs = []
        for d, suffix in enumerate(self._suffixes(layer)):
            seq = x if d == 0 else reverse_within(x, lengths)                    # each row from its own end
            xw = F.linear(seq, getattr(self, f"weight_ih{suffix}"), getattr(self, f"bias{suffix}"))  # (B, T, G*H)
            out, last = self.run(xw, mask, suffix, tuple(s[layer * self.directions + d] for s in state))
            outs.append(out if d == 0 else reverse_within(out, lengths))       # (B, T, H)
            for part, value in zip(finals, last, strict=True):
                part.append(value)
        return torch.cat(outs, dim=-1) if self.directions == 2 else outs[0]

    @staticmethod
    def _repack(x: Tensor, lengths: Tensor, like: PackedSequence) -> PackedSequence:
        """Pack the output with the input's own order, so pad_packed_sequence restores the caller's rows."""
        order = like.sorted_indices
        data = x if order is None else x.index_select(0, order)
        sorted_lengths = lengths.cpu() if order is None else lengths.cpu()[order.cpu()]
        out = pack_padded_sequence(data, sorted_lengths, batch_first=True, enforce_sorted=True)
        return PackedSequence(out.data, out.batch_sizes, like.sorted_indices, like.unsorted_indices)


class PeepholeLSTM(RecurrentStack):
    """LSTM whose gates also see the cell state through diagonal weights (peephole connections)."""

    gates, state_parts = 4, 2

    def extra_parameters(self, suffix: str) -> None:
        self.register_parameter(f"weight_ch{suffix}", nn.Parameter(torch.empty(3 * self.hidden_size)))

    def reset_parameters(self) -> None:
        super().reset_parameters()
        for name, weight in self.named_parameters():
            if name.startswith("weight_ch"):
                nn.init.zeros_(weight)                  # starts as a plain LSTM; the peepholes are learned

    def run(self, xw, mask, suffix, state):
        out, h, c = peephole_loop(xw, mask, getattr(self, f"weight_hh{suffix}"),
                                   getattr(self, f"weight_ch{suffix}"), state[0], state[1])
        return out, (h, c)


class JordanRNN(RecurrentStack):
    """Jordan network: the layer's previous output y = W_y h (hidden size), not h itself, is fed back."""

    def extra_parameters(self, suffix: str) -> None:
        self.register_parameter(f"weight_hy{suffix}", nn.Parameter(torch.empty(self.hidden_size, self.hidden_size)))

    def run(self, xw, mask, suffix, state):
        out, y = jordan_loop(xw, mask, getattr(self, f"weight_hh{suffix}"), getattr(self, f"weight_hy{suffix}"),
                              state[0])
        return out, (y,)


class CTRNN(RecurrentStack):
    """Continuous-time RNN by Euler steps of dt: h <- h + dt/tau (-h + tanh(W x + U h + b)), tau learned per unit."""

    def __init__(self, *args, dt: float = 0.5, **kwargs):
        self.dt = dt
        super().__init__(*args, **kwargs)

    def extra_parameters(self, suffix: str) -> None:
        # log tau keeps tau positive whatever the optimiser does
        self.register_parameter(f"log_tau{suffix}", nn.Parameter(torch.empty(self.hidden_size)))

    def reset_parameters(self) -> None:
        super().reset_parameters()
        for name, weight in self.named_parameters():
            if name.startswith("log_tau"):
                nn.init.zeros_(weight)                  # tau = 1 at the start

    def run(self, xw, mask, suffix, state):
        rate = self.dt * torch.exp(-getattr(self, f"log_tau{suffix}"))         # (H,) dt / tau
        out, h = ctrnn_loop(xw, mask, getattr(self, f"weight_hh{suffix}"), rate, state[0])
        return out, (h,)


CUSTOM_CELLS = {"peephole_lstm": PeepholeLSTM, "jordan": JordanRNN, "ctrnn": CTRNN}
