"""rnnservice.ml.padded_rnn: torch's RNNs over padded mixed-length batches give what packing gives."""
from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from rnnservice.ml.cells import PeepholeLSTM
from rnnservice.ml.padded_rnn import run_padded, run_unpadded, runs_padded

RNNS = [(nn.LSTM, {}), (nn.GRU, {}), (nn.RNN, {"nonlinearity": "tanh"}), (nn.RNN, {"nonlinearity": "relu"})]


def packed_run(rnn: nn.RNNBase, x: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The reference: pack, run, unpack; the last layer's final h of each direction side by side."""
    out, state = rnn(pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False))
    out, _ = pad_packed_sequence(out, batch_first=True, total_length=x.size(1))
    h = state[0] if isinstance(state, tuple) else state
    return out, torch.cat(list(h[-(2 if rnn.bidirectional else 1):]), dim=-1)


@pytest.mark.parametrize("cls, kwargs", RNNS)
@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("num_layers", [1, 2])
def test_outputs_final_state_and_gradients_match_packing(cls, kwargs, bidirectional, num_layers):
    torch.manual_seed(0)
    rnn = cls(7, 5, num_layers, batch_first=True, bidirectional=bidirectional, **kwargs)
    x = torch.randn(4, 6, 7, requires_grad=True)
    lengths = torch.tensor([6, 3, 1, 4])
    weights = [torch.randn(4, 6, 5 * (2 if bidirectional else 1)), torch.randn(4, 5 * (2 if bidirectional else 1))]

    results = []
    for run in (run_padded, packed_run):
        out, final = run(rnn, x, lengths)
        loss = (out * weights[0]).sum() + (final * weights[1]).sum()
        results.append((out, final, torch.autograd.grad(loss, [x, *rnn.parameters()])))

    (out, final, grads), (ref_out, ref_final, ref_grads) = results
    torch.testing.assert_close(out, ref_out)
    torch.testing.assert_close(final, ref_final)
    assert out[1, 3:].abs().sum() == 0 and out[2, 1:].abs().sum() == 0         # zeros at padding
    for grad, ref in zip(grads, ref_grads, strict=True):
        torch.testing.assert_close(grad, ref)


def test_a_batch_without_padding_matches_the_fused_call():
    torch.manual_seed(1)
    rnn = nn.LSTM(3, 4, 2, batch_first=True, bidirectional=True)
    x = torch.randn(2, 5, 3)

    out, final = run_padded(rnn, x, torch.tensor([5, 5]))

    ref_out, (h, _) = rnn(x)
    torch.testing.assert_close(out, ref_out)
    torch.testing.assert_close(final, torch.cat([h[-2], h[-1]], dim=-1))


def test_dropout_between_layers_is_seeded_and_only_in_training():
    torch.manual_seed(2)
    rnn = nn.LSTM(3, 4, 2, batch_first=True, dropout=0.5)
    x, lengths = torch.randn(3, 5, 3), torch.tensor([5, 2, 4])

    torch.manual_seed(7)
    first, _ = run_padded(rnn, x, lengths)
    torch.manual_seed(7)
    again, _ = run_padded(rnn, x, lengths)
    rnn.eval()
    evaluated, _ = run_padded(rnn, x, lengths)

    assert torch.equal(first, again)
    assert not torch.allclose(first, evaluated)
    torch.testing.assert_close(evaluated, packed_run(rnn, x, lengths)[0])


def test_it_takes_torchs_rnns_on_a_cpu_and_leaves_the_rest_to_packing():
    x = torch.randn(1, 2, 3)
    assert runs_padded(nn.GRU(3, 4, batch_first=True), x)
    assert not runs_padded(nn.GRU(3, 4), x)                                     # time-major
    assert not runs_padded(nn.LSTM(3, 4, batch_first=True, proj_size=2), x)
    assert not runs_padded(PeepholeLSTM(3, 4), x)                              # our cells take lengths themselves


@pytest.mark.parametrize("cls, kwargs", RNNS)
@pytest.mark.parametrize("bidirectional", [False, True])
def test_an_unpadded_batch_takes_and_gives_the_whole_state_as_the_fused_call(cls, kwargs, bidirectional):
    torch.manual_seed(3)
    rnn = cls(3, 4, 2, batch_first=True, bidirectional=bidirectional, **kwargs)
    x = torch.randn(2, 5, 3)
    h = torch.randn(2 * (2 if bidirectional else 1), 2, 4)
    hx = (h, torch.randn_like(h)) if cls is nn.LSTM else h

    out, state = run_unpadded(rnn, x, hx)

    ref_out, ref_state = rnn(x, hx)
    torch.testing.assert_close(out, ref_out)
    torch.testing.assert_close(state, ref_state)
