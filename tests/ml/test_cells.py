"""Tests for rnnservice.ml.cells: the peephole LSTM, Jordan and continuous-time cells in every task, tiny sizes."""
from __future__ import annotations

import pytest
import torch
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from rnnservice.ml.artifacts import load_version
from rnnservice.ml.cells import CTRNN, CUSTOM_CELLS, JordanRNN, PeepholeLSTM
from rnnservice.ml.config import ArchitectureConfig, config_from_dict
from rnnservice.ml.decoding import beam_decode
from rnnservice.ml.errors import ConfigError
from rnnservice.ml.models import Encoder
from rnnservice.ml.pipeline import train
from rnnservice.ml.predict import Predictor
from rnnservice.ml.tasks.translation import Seq2Seq
from rnnservice.ml.text import BOS_ID, EOS_ID
from tests.ml.test_series import values_config, waves

NEW_CELLS = sorted(CUSTOM_CELLS)
INPUTS = {
    "tagging": ["Anna Schmidt visited Rome .", "Omar saw Berlin"],
    "classification": ["A great soup, really.", "An awful book."],
    "translation": ["der Hund schläft.", "die Katze liest im Park."],
}


def as_tuple(state) -> tuple[torch.Tensor, ...]:
    return state if isinstance(state, tuple) else (state,)


@pytest.mark.parametrize("cell", NEW_CELLS)
@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("num_layers", [1, 2])
def test_it_gives_outputs_and_states_shaped_as_torchs_rnns(cell, bidirectional, num_layers):
    rnn = CUSTOM_CELLS[cell](5, 7, num_layers, batch_first=True, bidirectional=bidirectional)
    directions = 2 if bidirectional else 1

    out, state = rnn(torch.randn(3, 4, 5))

    assert out.shape == (3, 4, 7 * directions)
    assert all(s.shape == (num_layers * directions, 3, 7) for s in as_tuple(state))
    assert isinstance(state, tuple) == (cell == "peephole_lstm")


@pytest.mark.parametrize("cell", NEW_CELLS)
@pytest.mark.parametrize("bidirectional", [False, True])
def test_a_padded_batch_gives_each_sequence_what_it_gets_alone(cell, bidirectional):
    torch.manual_seed(0)
    rnn = CUSTOM_CELLS[cell](5, 7, 2, batch_first=True, bidirectional=bidirectional).eval()
    x, lengths = torch.randn(3, 6, 5), torch.tensor([6, 2, 4])
    packed = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)

    packed_out, packed_state = rnn(packed)
    padded_out, padded_state = rnn(x, lengths=lengths)
    out, _ = pad_packed_sequence(packed_out, batch_first=True)

    assert torch.equal(out, padded_out)
    for b, n in enumerate(lengths.tolist()):
        alone_out, alone_state = rnn(x[b:b + 1, :n])
        # the backward direction starts at the sequence's own last step, not at the batch's padding
        torch.testing.assert_close(out[b, :n], alone_out[0], rtol=0, atol=1e-6)
        assert not out[b, n:].any()
        for batched, single in zip(as_tuple(packed_state), as_tuple(alone_state), strict=True):
            torch.testing.assert_close(batched[:, b], single[:, 0], rtol=0, atol=1e-6)
        for batched, single in zip(as_tuple(padded_state), as_tuple(alone_state), strict=True):
            torch.testing.assert_close(batched[:, b], single[:, 0], rtol=0, atol=1e-6)


def test_a_peephole_lstm_without_peepholes_is_torchs_lstm():
    torch.manual_seed(0)
    mine = PeepholeLSTM(5, 7, 2, batch_first=True, bidirectional=True)
    theirs = torch.nn.LSTM(5, 7, 2, batch_first=True, bidirectional=True)
    with torch.no_grad():
        for name, weight in theirs.named_parameters():
            source = name.replace("bias_ih", "bias") if "bias_ih" in name else name
            weight.copy_(torch.zeros_like(weight) if "bias_hh" in name else getattr(mine, source))
    x = torch.randn(2, 5, 5)

    (out, (h, c)), (expected, (eh, ec)) = mine(x), theirs(x)

    torch.testing.assert_close(out, expected)
    torch.testing.assert_close(h, eh)
    torch.testing.assert_close(c, ec)


def test_a_ctrnn_whose_step_equals_its_time_constant_is_an_elman_rnn():
    torch.manual_seed(0)
    mine = CTRNN(5, 7, 1, batch_first=True, dt=1.0)                              # tau starts at 1
    theirs = torch.nn.RNN(5, 7, 1, batch_first=True)
    with torch.no_grad():
        theirs.weight_ih_l0.copy_(mine.weight_ih_l0)
        theirs.weight_hh_l0.copy_(mine.weight_hh_l0)
        theirs.bias_ih_l0.copy_(mine.bias_l0)
        theirs.bias_hh_l0.zero_()
    x = torch.randn(2, 5, 5)

    torch.testing.assert_close(mine(x)[0], theirs(x)[0])


def test_a_ctrnn_moves_dt_over_tau_of_the_way_each_step():
    rnn = CTRNN(1, 1, 1, batch_first=True, dt=0.5)
    with torch.no_grad():
        for weight in rnn.parameters():
            weight.zero_()
        rnn.bias_l0.fill_(10.0)                                                  # tanh(...) is about 1
        rnn.log_tau_l0.fill_(0.0)

    out, _ = rnn(torch.zeros(1, 3, 1))

    torch.testing.assert_close(out[0, :, 0], torch.tensor([0.5, 0.75, 0.875]), atol=1e-6, rtol=0)


def test_a_jordan_network_feeds_back_its_output_not_its_hidden_state():
    rnn = JordanRNN(1, 1, 1, batch_first=True)
    with torch.no_grad():
        rnn.weight_ih_l0.fill_(1.0)
        rnn.bias_l0.zero_()
        rnn.weight_hh_l0.fill_(1.0)
        rnn.weight_hy_l0.fill_(2.0)                                              # y = 2h

    out, y = rnn(torch.tensor([[[0.5], [0.0]]]))

    h1 = torch.tanh(torch.tensor(0.5))
    torch.testing.assert_close(out[0, :, 0], torch.stack([2 * h1, 2 * torch.tanh(2 * h1)]))
    torch.testing.assert_close(y[0, 0, 0], out[0, 1, 0])


@pytest.mark.parametrize("cell", NEW_CELLS)
def test_every_parameter_gets_a_gradient(cell):
    torch.manual_seed(0)
    rnn = CUSTOM_CELLS[cell](5, 7, 2, batch_first=True, bidirectional=True, dropout=0.3)
    x, lengths = torch.randn(3, 6, 5), torch.tensor([6, 2, 4])

    out, _ = rnn(x, lengths=lengths)
    out.square().sum().backward()

    for name, weight in rnn.named_parameters():
        assert weight.grad is not None and weight.grad.isfinite().all(), name
        assert weight.grad.abs().sum() > 0, name


def test_dropout_sits_between_layers_and_only_in_training():
    torch.manual_seed(0)
    rnn = JordanRNN(5, 7, 2, batch_first=True, dropout=0.5)
    x = torch.randn(2, 4, 5)

    rnn.eval()
    assert torch.equal(rnn(x)[0], rnn(x)[0])
    rnn.train()
    assert not torch.equal(rnn(x)[0], rnn(x)[0])
    single = JordanRNN(5, 7, 1, batch_first=True, dropout=0.5).train()          # one layer: nothing between
    assert torch.equal(single(x)[0], single(x)[0])


@pytest.mark.parametrize("cell", NEW_CELLS)
def test_the_encoder_and_the_decoder_use_the_cell(cell):
    arch = ArchitectureConfig(cell=cell, embed_dim=8, hidden_dim=6, num_layers=2, decoder_layers=2, dropout=0.0)
    model = Seq2Seq(arch, 20, 20).eval()
    ids, lengths = torch.randint(4, 20, (3, 5)), torch.tensor([5, 3, 1])
    target = torch.cat([torch.full((3, 1), BOS_ID), torch.randint(4, 20, (3, 4)), torch.full((3, 1), EOS_ID)], 1)

    _, loss = model(ids, lengths, target)
    hypotheses = beam_decode(model, ids, lengths, beam_size=3, max_length=6)

    assert isinstance(model.encoder.rnn, CUSTOM_CELLS[cell]) and isinstance(model.rnn, CUSTOM_CELLS[cell])
    assert loss.isfinite()
    assert len(hypotheses) == 3


@pytest.mark.parametrize("cell", NEW_CELLS)
@pytest.mark.parametrize("task", ["tagging", "classification", "translation"])
def test_a_tiny_model_trains_saves_loads_and_predicts_the_same(cell, task, tiny_config, examples, tmp_path):
    config = tiny_config(task, architecture={"cell": cell, "bidirectional": True, "num_layers": 2})

    result = train(config, examples(task))
    result.save(tmp_path / "v")
    version = load_version(tmp_path / "v")

    assert result.fit.history[-1].train_loss < result.fit.history[0].train_loss * 1.5
    assert version.config.architecture.cell == cell
    assert isinstance(version.model.encoder.rnn, CUSTOM_CELLS[cell])
    options = {"beam_size": 2} if task == "translation" else {}
    before = Predictor(result.model, result.codec, result.config).predict(INPUTS[task], **options)
    assert Predictor(version.model, version.codec, version.config).predict(INPUTS[task], **options) == before


@pytest.mark.parametrize("cell", NEW_CELLS)
def test_a_classifier_of_numeric_series_learns_with_the_cell(cell):
    torch.manual_seed(0)
    config = values_config("classification", cell=cell)

    result = train(config, waves(60))

    assert result.config.data.input == "values"
    assert result.metrics["accuracy"] >= 0.8


def test_ctrnn_dt_is_read_for_a_ctrnn():
    config = config_from_dict({"architecture": {"cell": "ctrnn", "ctrnn_dt": 0.2}}, task="tagging")
    assert Encoder(config.architecture, 10).rnn.dt == 0.2


def test_ctrnn_dt_is_refused_for_another_cell_and_out_of_range():
    with pytest.raises(ConfigError, match=r"architecture.ctrnn_dt: applies to cell ctrnn only, not lstm"):
        config_from_dict({"architecture": {"ctrnn_dt": 0.2}}, task="tagging")
    with pytest.raises(ConfigError, match=r"architecture.ctrnn_dt: must be between 0.001 and 10.0"):
        config_from_dict({"architecture": {"cell": "ctrnn", "ctrnn_dt": 50}}, task="tagging")


def test_a_saved_config_of_another_cell_repeating_the_default_dt_is_accepted():
    saved = config_from_dict({"architecture": {"cell": "gru"}}, task="classification").to_dict()
    assert config_from_dict(saved).architecture.cell == "gru"


def test_an_unknown_cell_is_refused_with_the_new_cells_listed():
    with pytest.raises(ConfigError, match="peephole_lstm.*jordan.*ctrnn"):
        config_from_dict({"architecture": {"cell": "elman"}}, task="tagging")
