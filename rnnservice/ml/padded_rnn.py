"""torch's fused RNNs (nn.LSTM, nn.GRU, nn.RNN) over a padded batch of mixed lengths, without packing, on the CPU.

On a CPU, torch runs a PackedSequence through its native step loop, whose backward fills a gradient the size of
the whole input with zeros at every step (`slice_backward`): under the profiler, 44% of the tagger's training
time went to those fills (bench/RESULTS.md, "Mixed-length batches without packing"). A padded batch goes through
oneDNN's fused layer instead. The forward direction reaches a row's padding only after its last step, so its
outputs at the row's steps are exact; the reverse direction reads each row reversed within its own length, as the
cells of rnnservice.ml.cells do. Layers run one at a time, with rnnservice.ml.dropout's draws between them.

run_padded gives the outputs and the last layer's final h: an LSTM's final c for a row shorter than the batch is
never computed, so a caller that carries the whole state on (generation) packs its mixed-length batches instead.
run_unpadded takes and gives the whole state, for batches without padding (a language model's running text).
"""
from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor, nn

from rnnservice.ml.dropout import dropout

_RUN = {"LSTM": torch._VF.lstm, "GRU": torch._VF.gru, "RNN_TANH": torch._VF.rnn_tanh,
        "RNN_RELU": torch._VF.rnn_relu}


def runs_padded(rnn: nn.Module, x: Tensor) -> bool:
    """Whether run_padded takes this module and input: torch's own RNNs (no projection) on a CPU, outside an ONNX
    export (which keeps packing, so that the graph gets ONNX's `sequence_lens`)."""
    return (type(rnn) in (nn.LSTM, nn.GRU, nn.RNN) and rnn.batch_first and not getattr(rnn, "proj_size", 0)
            and x.device.type == "cpu" and not torch.onnx.is_in_onnx_export())


def reverse_within(x: Tensor, lengths: Tensor) -> Tensor:
    """Reverse each row of x (B, T, ...) within its own length; padding stays where it is. Its own inverse."""
    steps = torch.arange(x.size(1), device=x.device).expand(x.size(0), -1)      # (B, T)
    index = torch.where(steps < lengths[:, None], lengths[:, None] - 1 - steps, steps)
    return x.gather(1, index.view(*index.shape, *([1] * (x.dim() - 2))).expand_as(x))


def run_padded(rnn: nn.RNNBase, x: Tensor, lengths: Tensor) -> tuple[Tensor, Tensor]:
    """x (B, T, I), padded after each row's `lengths` (B,) steps -> the outputs (B, T, D*H), zeros at padding, and
    the last layer's final h (B, D*H), both directions side by side as nn.LSTM's h_n[-D:] would give."""
    x, _ = _layers(rnn, x, None, lambda seq: reverse_within(seq, lengths))
    valid = torch.arange(x.size(1), device=x.device) < lengths[:, None]         # (B, T)
    if not bool(valid.all()):
        x = x * valid.unsqueeze(-1)                                              # as pad_packed_sequence leaves it
    hidden = rnn.hidden_size
    final = x[torch.arange(x.size(0), device=x.device), lengths - 1, :hidden]   # forward: at each row's last step
    if rnn.bidirectional:
        final = torch.cat([final, x[:, 0, hidden:]], dim=-1)                    # reverse: after reading step 0
    return x, final


def run_unpadded(rnn: nn.RNNBase, x: Tensor, hx: Tensor | tuple[Tensor, Tensor] | None = None
                 ) -> tuple[Tensor, Tensor | tuple[Tensor, Tensor]]:
    """rnn(x, hx) for a batch whose rows all have the batch's length, with our dropout between layers: the
    outputs (B, T, D*H) and the final state as nn.LSTM / nn.GRU return it."""
    out, finals = _layers(rnn, x, hx, lambda seq: seq.flip(1))
    state = [torch.cat(part) for part in zip(*finals, strict=True)]             # each (L*D, B, H)
    return out, (tuple(state) if rnn.mode == "LSTM" else state[0])


def _layers(rnn: nn.RNNBase, x: Tensor, hx: Tensor | tuple[Tensor, Tensor] | None,
            reverse: Callable[[Tensor], Tensor]) -> tuple[Tensor, list[tuple[Tensor, ...]]]:
    """Each layer and direction in turn, the reverse direction over `reverse(x)`, its outputs put back in order
    by `reverse` again. Returns the outputs and each layer and direction's final state, (h,) or (h, c), each
    (1, B, H); a row shorter than the batch has its state after the padding, which run_padded does not use."""
    directions = 2 if rnn.bidirectional else 1
    if hx is None:
        zeros = x.new_zeros(rnn.num_layers * directions, x.size(0), rnn.hidden_size)
        hx = (zeros, zeros) if rnn.mode == "LSTM" else zeros
    parts = hx if isinstance(hx, tuple) else (hx,)
    run = _RUN[rnn.mode]
    per = len(rnn._flat_weights) // (rnn.num_layers * directions)               # w_ih, w_hh and the biases
    finals = []
    for layer in range(rnn.num_layers):
        if layer:
            x = dropout(x, rnn.dropout, rnn.training)                           # between layers, not after last
        outs = []
        for d in range(directions):
            k = layer * directions + d
            start = tuple(part[k:k + 1] for part in parts)
            out, *final = run(x if d == 0 else reverse(x), start if rnn.mode == "LSTM" else start[0],
                              rnn._flat_weights[k * per:(k + 1) * per], rnn.bias, 1, 0.0, rnn.training, False,
                              True)                                              # (B, T, H), h (1, B, H)[, c]
            outs.append(out if d == 0 else reverse(out))
            finals.append(tuple(final))
        x = torch.cat(outs, dim=-1) if directions == 2 else outs[0]
    return x, finals
