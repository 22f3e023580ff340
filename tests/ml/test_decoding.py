"""Tests for rnnservice.ml.decoding: beam 1 is greedy, the length cap holds, batches decode as single rows."""
from __future__ import annotations

import pytest
import torch

from rnnservice.ml.config import ArchitectureConfig
from rnnservice.ml.decoding import beam_decode, greedy_decode
from rnnservice.ml.tasks.translation import Seq2Seq
from rnnservice.ml.text import BOS_ID, EOS_ID, PAD_ID

SOURCE_VOCAB, TARGET_VOCAB = 12, 10


def arch(**changes) -> ArchitectureConfig:
    return ArchitectureConfig(**{"cell": "lstm", "embed_dim": 8, "hidden_dim": 16, "num_layers": 1,
                                 "dropout": 0.0, **changes})


@pytest.fixture(scope="module")
def model() -> Seq2Seq:
    """Untrained, with weights large enough that rows differ: some end with <eos>, some hit the cap."""
    torch.manual_seed(1)
    model = Seq2Seq(arch(), SOURCE_VOCAB, TARGET_VOCAB)
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.normal_(0.0, 1.0)
    return model.eval()


@pytest.fixture(scope="module")
def sources() -> tuple[torch.Tensor, torch.Tensor]:
    """5 random sources of lengths 4, 7, 2, 5, 1, padded: (5, 7) and (5,)."""
    torch.manual_seed(1)
    lengths = torch.tensor([4, 7, 2, 5, 1])
    ids = torch.randint(4, SOURCE_VOCAB, (5, 7)).masked_fill(torch.arange(7) >= lengths[:, None], PAD_ID)
    return ids, lengths


def test_it_gives_the_greedy_result_for_a_beam_of_one(model, sources):
    greedy = greedy_decode(model, *sources, max_length=8)
    beam = beam_decode(model, *sources, beam_size=1, max_length=8)

    assert {h.finished for h in greedy} == {True, False}       # both ways of ending are exercised
    for g, [b] in zip(greedy, beam, strict=True):
        assert b.tokens == g.tokens
        assert b.finished == g.finished
        assert b.score == pytest.approx(g.score, abs=1e-5)


@pytest.mark.parametrize("max_length", [1, 3, 6])
def test_it_never_returns_a_hypothesis_longer_than_max_length(model, sources, max_length):
    for hyps in beam_decode(model, *sources, beam_size=4, max_length=max_length, n_best=4):
        assert hyps
        assert all(len(h.tokens) <= max_length for h in hyps)
        assert all(EOS_ID not in h.tokens and BOS_ID not in h.tokens[:1] for h in hyps if h.finished)
    assert all(len(h.tokens) <= max_length for h in greedy_decode(model, *sources, max_length=max_length))


def test_it_returns_n_best_hypotheses_sorted_by_score(model, sources):
    results = beam_decode(model, *sources, beam_size=4, max_length=8, n_best=3)

    assert len(results) == 5
    for hyps in results:
        assert len(hyps) == 3
        scores = [h.score for h in hyps]
        assert scores == sorted(scores, reverse=True)
        assert len({tuple(h.tokens) for h in hyps}) == 3       # three different hypotheses


def test_it_decodes_each_row_of_a_batch_as_it_would_alone(model, sources):
    ids, lengths = sources
    batch_beam = beam_decode(model, ids, lengths, beam_size=3, max_length=8, n_best=2)
    batch_greedy = greedy_decode(model, ids, lengths, max_length=8)

    for row, length in enumerate(lengths.tolist()):
        alone_ids, alone_lengths = ids[row:row + 1, :length], lengths[row:row + 1]
        alone_beam = beam_decode(model, alone_ids, alone_lengths, beam_size=3, max_length=8, n_best=2)[0]
        [alone_greedy] = greedy_decode(model, alone_ids, alone_lengths, max_length=8)
        assert [h.tokens for h in alone_beam] == [h.tokens for h in batch_beam[row]]
        assert [h.score for h in alone_beam] == pytest.approx([h.score for h in batch_beam[row]], abs=1e-5)
        assert alone_greedy.tokens == batch_greedy[row].tokens
        assert alone_greedy.score == pytest.approx(batch_greedy[row].score, abs=1e-5)


def test_it_divides_the_score_by_length_to_the_power_of_the_penalty(model, sources):
    plain = greedy_decode(model, *sources, max_length=8, length_penalty=0.0)
    normalized = greedy_decode(model, *sources, max_length=8, length_penalty=1.0)

    for p, n in zip(plain, normalized, strict=True):
        length = len(p.tokens) + p.finished                      # <eos> counts when it was produced
        assert n.score == pytest.approx(p.score / length, abs=1e-5)


def copy_batch(generator: torch.Generator, size: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Random sources of 3-6 tokens from 10 words (+ <eos>); the target is the same tokens."""
    lengths = torch.randint(3, 7, (size,), generator=generator)
    words = torch.randint(4, 14, (size, 6), generator=generator)
    positions = torch.arange(7)
    ids = torch.cat([words, torch.zeros(size, 1, dtype=torch.long)], 1)
    ids = torch.where(positions == lengths[:, None], EOS_ID, ids.masked_fill(positions > lengths[:, None], PAD_ID))
    target = torch.cat([torch.full((size, 1), BOS_ID), ids], 1)                        # <bos> w1 .. wn <eos>
    return ids, lengths + 1, target


@pytest.fixture(scope="module")
def copier() -> Seq2Seq:
    # Untied output layer, clipping and a decaying rate: without them some seeds stall on a plateau.
    steps = 250
    torch.manual_seed(0)
    generator = torch.Generator().manual_seed(0)
    model = Seq2Seq(arch(cell="gru", embed_dim=16, hidden_dim=32, bidirectional=True, tie_embeddings=False), 14, 14)
    opt = torch.optim.Adam(model.parameters(), lr=0.02)
    schedule = torch.optim.lr_scheduler.LambdaLR(opt, lambda step: 1 - step / steps)
    for _ in range(steps):
        _, loss = model(*copy_batch(generator, 64))
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        schedule.step()
    return model.eval()


def test_it_decodes_a_learned_copy_task_greedily_and_with_a_beam(copier):
    ids, lengths, target = copy_batch(torch.Generator().manual_seed(123), 8)
    expected = [row[1:n].tolist() for row, n in zip(target, lengths.tolist(), strict=True)]   # no <bos>, <eos>

    greedy = greedy_decode(copier, ids, lengths, max_length=12)
    beam = beam_decode(copier, ids, lengths, beam_size=3, max_length=12)

    assert [h.tokens for h in greedy] == expected
    assert [hyps[0].tokens for hyps in beam] == expected
    assert all(h.finished for h in greedy)
