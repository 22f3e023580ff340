"""Drawing tokens from a model's next-token scores: temperature, top-k and nucleus (top-p) filtering, and draws that
repeat. Each sample takes its random numbers from a generator of its own, seeded from the request's seed and the
sample's number, so a sample is the same whatever it is batched with and however long it is allowed to run."""
from __future__ import annotations

import secrets
from collections.abc import Sequence

import torch
from torch import Tensor

SEED_LIMIT = 2**32                  # seeds are 0 .. 2**32 - 1, as training seeds are


def filtered_logprobs(logits: Tensor, *, temperature: float, top_k: int = 0, top_p: float = 1.0) -> Tensor:
    """(N, V) log-probabilities of the distribution to draw from: `logits` / temperature (> 0), keeping only the
    `top_k` most likely tokens (0: all of them) and the fewest most likely tokens whose probability reaches `top_p`
    (1: all of them; Holtzman et al., 2020). The most likely token is always kept."""
    logits = logits.float() / temperature
    if 0 < top_k < logits.size(-1):
        kth = logits.topk(top_k, dim=-1).values[:, -1:]                          # (N, 1)
        logits = logits.masked_fill(logits < kth, float("-inf"))
    if top_p < 1.0:
        ranked, order = logits.sort(dim=-1, descending=True)
        probs = ranked.softmax(-1)
        above = probs.cumsum(-1) - probs                        # the mass of the tokens ranked above each one
        ranked = ranked.masked_fill(above >= top_p, float("-inf"))
        logits = torch.full_like(logits, float("-inf")).scatter(-1, order, ranked)
    return logits.log_softmax(-1)


def draw(logprobs: Tensor, uniform: Tensor) -> Tensor:
    """(N,) token ids: where each row's cumulative distribution first passes its number in [0, 1) (inverse
    transform sampling), so that one random number a step decides a draw and tokens of probability 0 never win."""
    cdf = logprobs.double().exp().cumsum(-1)                                     # (N, V)
    cdf = cdf / cdf[:, -1:]                                                      # rounding: the last is exactly 1
    token = torch.searchsorted(cdf, uniform.to(cdf.device, torch.float64).unsqueeze(1), right=True)
    return token.squeeze(1).clamp(max=logprobs.size(-1) - 1)


def sample_seed(seed: int, number: int) -> int:
    """The seed of the `number`-th sample drawn for a request's `seed`."""
    return (seed * 1_000_003 + number) % 2**63


def uniforms(seeds: Sequence[int], steps: int) -> Tensor:
    """(N, steps) float64 numbers in [0, 1): row i from a CPU generator seeded with seeds[i] (the same numbers on
    every machine; a longer run draws more of the same sequence)."""
    rows = [torch.rand(steps, generator=torch.Generator().manual_seed(seed), dtype=torch.float64) for seed in seeds]
    return torch.stack(rows) if rows else torch.empty(0, steps, dtype=torch.float64)


def fresh_seed() -> int:
    """A seed for a request that gave none; the answer returns it, so the samples can be drawn again."""
    return secrets.randbelow(SEED_LIMIT)
