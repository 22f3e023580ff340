"""Tests for rnnservice.ml.models: encoder shapes per cell, packing, CRF marginals, each head on tiny sizes."""
from __future__ import annotations

import itertools

import pytest
import torch

from rnnservice.ml.config import ArchitectureConfig, config_from_dict
from rnnservice.ml.errors import ConfigError
from rnnservice.ml.models import Encoder, build_model
from rnnservice.ml.tasks.classification import Classifier
from rnnservice.ml.tasks.tagging import Tagger, crf_marginals
from rnnservice.ml.tasks.translation import Seq2Seq
from rnnservice.ml.text import BOS_ID, EOS_ID, PAD_ID

VOCAB = 30
CELL_SETTINGS = [("rnn", "tanh"), ("rnn", "relu"), ("lstm", "tanh"), ("gru", "tanh")]


def arch(**changes) -> ArchitectureConfig:
    return ArchitectureConfig(**{"embed_dim": 8, "hidden_dim": 16, "num_layers": 1, "dropout": 0.0, **changes})


def padded_batch(lengths: list[int], vocab: int = VOCAB, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Random token ids (B, T) with <pad> after each row's length."""
    generator = torch.Generator().manual_seed(seed)
    lengths_t = torch.tensor(lengths)
    ids = torch.randint(4, vocab, (len(lengths), max(lengths)), generator=generator)
    return ids.masked_fill(torch.arange(max(lengths)) >= lengths_t[:, None], PAD_ID), lengths_t


@pytest.mark.parametrize("cell, nonlinearity", CELL_SETTINGS)
@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("num_layers", [1, 3])
def test_it_gives_one_state_per_token_and_a_summary(cell, nonlinearity, bidirectional, num_layers):
    encoder = Encoder(arch(cell=cell, nonlinearity=nonlinearity, bidirectional=bidirectional,
                           num_layers=num_layers, dropout=0.2), VOCAB)
    ids, lengths = padded_batch([6, 4, 1])

    states, final = encoder(ids, lengths)

    directions = 2 if bidirectional else 1
    assert encoder.out_dim == 16 * directions
    assert states.shape == (3, 6, 16 * directions)
    assert final.shape == (3, 16 * directions)
    assert isinstance(encoder.rnn, {"rnn": torch.nn.RNN, "lstm": torch.nn.LSTM, "gru": torch.nn.GRU}[cell])
    assert encoder.rnn.num_layers == num_layers


def test_it_uses_the_asked_nonlinearity_for_a_plain_rnn():
    assert Encoder(arch(cell="rnn", nonlinearity="relu"), VOCAB).rnn.nonlinearity == "relu"


def test_it_rejects_an_unknown_cell_and_lists_the_choices():
    with pytest.raises(ConfigError) as info:
        Encoder(arch(cell="transformer"), VOCAB)

    assert info.value.field == "architecture.cell"
    assert all(name in str(info.value) for name in ("'gru'", "'lstm'", "'rnn'"))


@pytest.mark.parametrize("cell, nonlinearity", CELL_SETTINGS)
def test_it_encodes_a_short_sequence_in_a_batch_as_it_does_alone(cell, nonlinearity):
    torch.manual_seed(0)
    encoder = Encoder(arch(cell=cell, nonlinearity=nonlinearity, bidirectional=True, num_layers=2,
                           dropout=0.3), VOCAB).eval()
    ids, lengths = padded_batch([7, 3, 5])

    states, final = encoder(ids, lengths)
    alone_states, alone_final = encoder(ids[1:2, :3], lengths[1:2])

    torch.testing.assert_close(states[1, :3], alone_states[0])
    torch.testing.assert_close(final[1], alone_final[0])
    assert states[1, 3:].abs().sum() == 0                     # padding costs nothing and yields nothing


def test_it_gives_a_char_crf_tagger_logits_per_token_and_a_finite_loss():
    torch.manual_seed(0)
    model = Tagger(arch(char_dim=6, crf=True, bidirectional=True), VOCAB, num_tags=5, num_chars=12)
    ids, lengths = padded_batch([5, 2])
    chars = torch.randint(4, 12, (2, 5, 4)).masked_fill((ids == PAD_ID)[..., None], PAD_ID)   # (B, T, L)
    tags = torch.randint(0, 5, (2, 5)).masked_fill(ids == PAD_ID, -100)

    logits, loss = model(ids, lengths, chars, tags)
    loss.backward()

    assert model.crf is not None and model.encoder.chars is not None
    assert logits.shape == (2, 5, 5)
    assert torch.isfinite(loss)
    assert model.encoder.chars.conv.weight.grad is not None   # the character features take part


def test_it_predicts_tags_and_probabilities_only_for_real_tokens():
    torch.manual_seed(0)
    model = Tagger(arch(crf=True), VOCAB, num_tags=4).eval()
    ids, lengths = padded_batch([4, 2])

    best, scores = model.predict(ids, lengths)

    assert best.shape == scores.shape == (2, 4)
    assert ((scores[0] > 0) & (scores[0] <= 1)).all()
    assert (best[1, 2:] == 0).all() and (scores[1, 2:] == 0).all()


def test_it_takes_the_softmax_argmax_and_its_probability_without_a_crf():
    torch.manual_seed(0)
    model = Tagger(arch(crf=False), VOCAB, num_tags=4).eval()
    ids, lengths = padded_batch([4, 3])

    best, scores = model.predict(ids, lengths)
    probs = model(ids, lengths)[0].softmax(-1)

    torch.testing.assert_close(best[0], probs[0].argmax(-1))
    torch.testing.assert_close(scores[0], probs[0].max(-1).values)


def brute_force_marginals(crf, emissions: torch.Tensor, length: int) -> torch.Tensor:
    """P(tag at t) for one sentence by summing exp(score) over every tag path: (length, C)."""
    C = emissions.size(-1)
    marginals = torch.zeros(length, C, dtype=torch.float64)
    total = 0.0
    for path in itertools.product(range(C), repeat=length):
        score = crf.start_transitions[path[0]] + crf.end_transitions[path[-1]]
        score = score + sum(emissions[t, path[t]] for t in range(length))
        score = score + sum(crf.transitions[path[t - 1], path[t]] for t in range(1, length))
        weight = score.double().exp()
        total += weight
        for t, tag in enumerate(path):
            marginals[t, tag] += weight
    return marginals / total


@torch.no_grad()
def test_it_computes_crf_marginals_equal_to_brute_force_including_a_padded_row():
    torch.manual_seed(0)
    model = Tagger(arch(crf=True), VOCAB, num_tags=3)
    crf = model.crf
    for parameter in (crf.transitions, crf.start_transitions, crf.end_transitions):
        parameter.copy_(torch.randn_like(parameter))         # far from the near-zero initial values
    emissions = torch.randn(3, 3, 3)                         # (B, T=3, C=3)
    mask = torch.tensor([[True, True, True], [True, True, False], [True, False, False]])

    marginals = crf_marginals(crf, emissions, mask)

    for row, length in enumerate([3, 2, 1]):
        expected = brute_force_marginals(crf, emissions[row], length)
        torch.testing.assert_close(marginals[row, :length].double(), expected, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("pooling", ["last", "mean", "max", "attention"])
def test_it_classifies_with_each_pooling_and_ignores_padding(pooling):
    torch.manual_seed(0)
    model = Classifier(arch(pooling=pooling, bidirectional=True), VOCAB, num_labels=3).eval()
    ids, lengths = padded_batch([6, 2, 4])

    logits, loss = model(ids, lengths, labels=torch.tensor([0, 2, 1]))
    alone, _ = model(ids[1:2, :2], lengths[1:2])

    assert logits.shape == (3, 3)
    assert torch.isfinite(loss)
    torch.testing.assert_close(logits[1], alone[0])
    if pooling == "attention":
        assert model.attention is not None


def test_it_gives_a_classifier_character_features_and_still_ignores_padding():
    torch.manual_seed(0)
    model = Classifier(arch(char_dim=6, pooling="max"), VOCAB, num_labels=3, num_chars=12).eval()
    ids, lengths = padded_batch([5, 2])
    chars = torch.randint(4, 12, (2, 5, 4)).masked_fill((ids == PAD_ID)[..., None], PAD_ID)   # (B, T, L)

    logits, loss = model(ids, lengths, chars, labels=torch.tensor([0, 2]))
    loss.backward()
    alone, _ = model(ids[1:2, :2], lengths[1:2], chars[1:2, :2])

    assert model.encoder.chars is not None
    assert model.encoder.chars.conv.weight.grad is not None   # the character features take part
    torch.testing.assert_close(logits[1], alone[0])


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
@pytest.mark.parametrize("bidirectional, decoder_layers", [(False, 1), (True, 2)])
def test_it_gives_a_seq2seq_a_finite_teacher_forced_loss(cell, bidirectional, decoder_layers):
    torch.manual_seed(0)
    model = Seq2Seq(arch(cell=cell, bidirectional=bidirectional, decoder_layers=decoder_layers), VOCAB, 20,
                    label_smoothing=0.1)
    ids, lengths = padded_batch([5, 3])
    target = torch.tensor([[BOS_ID, 5, 6, 7, EOS_ID], [BOS_ID, 8, EOS_ID, PAD_ID, PAD_ID]])

    logits, loss = model(ids, lengths, target)
    loss.backward()

    assert logits.shape == (2, 4, 20)                         # (B, T-1, V): next token at each position
    assert torch.isfinite(loss) and loss > 0
    assert model.out.weight is model.embed.weight             # tied embeddings by default


def test_it_builds_the_model_of_each_task_from_a_config():
    tagging = config_from_dict({"architecture": {"crf": True}}, task="tagging")
    classification = config_from_dict({}, task="classification")
    translation = config_from_dict({"architecture": {"tie_embeddings": False}}, task="translation")

    assert isinstance(build_model(tagging, {"words": 10, "tags": 3, "chars": 8}), Tagger)
    assert isinstance(build_model(classification, {"words": 10, "labels": 2}), Classifier)
    model = build_model(translation, {"source": 10, "target": 12})
    assert isinstance(model, Seq2Seq) and model.out.weight is not model.embed.weight


def test_it_overfits_one_batch_with_a_tiny_tagger():
    torch.manual_seed(0)
    ids, lengths = torch.randint(4, 50, (4, 7)), torch.tensor([7, 5, 3, 2])
    ids = ids.masked_fill(torch.arange(7) >= lengths[:, None], PAD_ID)
    tags = torch.randint(0, 3, (4, 7)).masked_fill(torch.arange(7) >= lengths[:, None], -100)
    model = Tagger(ArchitectureConfig(embed_dim=8, hidden_dim=16, num_layers=2, dropout=0.2), 50, num_tags=3)
    opt = torch.optim.Adam(model.parameters(), lr=0.05)
    for _ in range(80):
        _, loss = model(ids, lengths, tags=tags)
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < 0.1
