"""Tests for rnnservice/ml/sampling.py: temperature, top-k and top-p filtering, and seeded draws."""
from __future__ import annotations

import math

import torch

from rnnservice.ml.sampling import draw, filtered_logprobs, sample_seed, uniforms

LOGITS = torch.log(torch.tensor([[0.5, 0.3, 0.15, 0.05]]))


def kept(logprobs: torch.Tensor) -> list[int]:
    return [i for i, value in enumerate(logprobs[0].tolist()) if value > float("-inf")]


def test_top_k_keeps_the_k_most_likely_tokens():
    assert kept(filtered_logprobs(LOGITS, temperature=1.0, top_k=2)) == [0, 1]
    assert kept(filtered_logprobs(LOGITS, temperature=1.0, top_k=0)) == [0, 1, 2, 3]


def test_top_p_keeps_the_fewest_tokens_whose_mass_reaches_it():
    assert kept(filtered_logprobs(LOGITS, temperature=1.0, top_p=0.8)) == [0, 1]
    assert kept(filtered_logprobs(LOGITS, temperature=1.0, top_p=0.81)) == [0, 1, 2]
    assert kept(filtered_logprobs(LOGITS, temperature=1.0, top_p=0.1)) == [0]       # the most likely stays


def test_a_low_temperature_sharpens_and_a_high_one_flattens():
    cold = filtered_logprobs(LOGITS, temperature=0.5)[0].exp()
    hot = filtered_logprobs(LOGITS, temperature=2.0)[0].exp()
    assert cold[0] > 0.5 > hot[0]
    assert math.isclose(cold.sum().item(), 1.0, rel_tol=1e-6)


def test_a_draw_follows_the_distribution_and_never_picks_a_token_of_probability_zero():
    logprobs = filtered_logprobs(LOGITS.expand(4000, 4), temperature=1.0, top_k=3)
    tokens = draw(logprobs, uniforms([sample_seed(7, j) for j in range(4000)], 1)[:, 0])
    counts = torch.bincount(tokens, minlength=4).tolist()
    assert counts[3] == 0
    assert abs(counts[0] / 4000 - 0.5 / 0.95) < 0.03
    edges = draw(logprobs[:2], torch.tensor([0.0, 1 - 1e-12], dtype=torch.float64))
    assert edges.tolist() == [0, 2]


def test_a_seed_gives_the_same_numbers_and_a_longer_run_continues_them():
    short, long = uniforms([sample_seed(3, 0), sample_seed(3, 1)], 5), uniforms([sample_seed(3, 0)], 9)
    assert torch.equal(short[0], long[0, :5])
    assert not torch.equal(short[0], short[1])
    assert torch.equal(uniforms([11], 4), uniforms([11], 4))
