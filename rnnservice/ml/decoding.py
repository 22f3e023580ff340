"""Batched greedy and beam search over a Seq2Seq model, with a length penalty and a hard length cap."""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from rnnservice.ml.text import BOS_ID, EOS_ID


@dataclass
class Hypothesis:
    tokens: list[int]      # target ids, without <bos>, without <eos>
    score: float           # sum of log-probabilities (with <eos> when it was produced) / length ** penalty
    finished: bool         # False: cut by the length cap before <eos>


def _normalize(logprob: float, length: int, length_penalty: float) -> float:
    return logprob / max(length, 1) ** length_penalty


@torch.inference_mode()
def greedy_decode(model, ids: Tensor, lengths: Tensor, *, max_length: int,
                  length_penalty: float = 1.0) -> list[Hypothesis]:
    """The most likely next token at each step, for a whole batch at once."""
    memory, mask, state = model.encode(ids, lengths)
    B = ids.size(0)
    prev = torch.full((B, 1), BOS_ID, dtype=torch.long, device=ids.device)
    done = torch.zeros(B, dtype=torch.bool, device=ids.device)
    total = torch.zeros(B, device=ids.device)
    steps = []
    for _ in range(max_length):
        logits, state, _ = model.decode(prev, state, memory, mask)
        logp, token = logits[:, -1].float().log_softmax(-1).max(-1)                 # (B,), (B,)
        total += logp.masked_fill(done, 0.0)
        steps.append(token.masked_fill(done, EOS_ID))
        done |= token == EOS_ID
        if done.all():
            break
        prev = token.unsqueeze(1)
    out = torch.stack(steps, 1).tolist()                                             # (B, steps)
    results = []
    for row, scored in zip(out, total.tolist()):
        finished = EOS_ID in row
        tokens = row[:row.index(EOS_ID)] if finished else row
        results.append(Hypothesis(tokens, _normalize(scored, len(tokens) + finished, length_penalty), finished))
    return results


@torch.inference_mode()
def beam_decode(model, ids: Tensor, lengths: Tensor, *, beam_size: int, max_length: int,
                length_penalty: float = 1.0, n_best: int = 1) -> list[list[Hypothesis]]:
    """Beam search for a batch: `n_best` hypotheses per input, best first.

    A hypothesis ends when <eos> ranks among the top `beam_size` candidates of a step; an input is
    done once it has `beam_size` ended hypotheses. With beam_size 1 this is exactly greedy decoding.
    """
    B, K, device = ids.size(0), beam_size, ids.device
    memory, mask, state = model.encode(ids, lengths)
    expand = torch.arange(B, device=device).repeat_interleave(K)                    # (B*K,)
    memory, mask, state = memory[expand], mask[expand], model.reorder(state, expand)
    scores = torch.full((B, K), float("-inf"), device=device)
    scores[:, 0] = 0.0                                                               # one live beam at first
    history = torch.empty((B * K, 0), dtype=torch.long, device=device)
    prev = torch.full((B * K, 1), BOS_ID, dtype=torch.long, device=device)
    ended: list[list[Hypothesis]] = [[] for _ in range(B)]
    done = [False] * B
    for step in range(max_length):
        logits, state, _ = model.decode(prev, state, memory, mask)
        logp = logits[:, -1].float().log_softmax(-1)                                 # (B*K, V)
        V = logp.size(-1)
        candidates = (scores.view(-1, 1) + logp).view(B, K * V)                      # (B, K*V)
        top, flat = candidates.topk(2 * K, dim=1)                                    # (B, 2K)
        beam, token = flat // V, flat % V
        is_eos = token == EOS_ID
        for b, k in (is_eos[:, :K] & top[:, :K].isfinite()).nonzero().tolist():
            if not done[b]:
                row = history[b * K + beam[b, k]].tolist()
                ended[b].append(Hypothesis(row, _normalize(top[b, k].item(), len(row) + 1, length_penalty), True))
        for b in range(B):
            done[b] = done[b] or len(ended[b]) >= K
        if all(done):
            break
        live = top.masked_fill(is_eos, float("-inf"))
        scores, pick = live.topk(K, dim=1)                                           # (B, K)
        scores[torch.tensor(done, device=device)] = float("-inf")
        source = (beam.gather(1, pick) + torch.arange(B, device=device).unsqueeze(1) * K).view(-1)  # (B*K,)
        chosen = token.gather(1, pick).view(-1, 1)                                   # (B*K, 1)
        history = torch.cat([history[source], chosen], dim=1)
        state = model.reorder(state, source)
        prev = chosen
    for b in range(B):
        if len(ended[b]) < n_best:     # the length cap came first: keep the best cut hypotheses too
            for k in range(K):
                if scores[b, k].isfinite():
                    row = history[b * K + k].tolist()
                    ended[b].append(Hypothesis(row, _normalize(scores[b, k].item(), len(row), length_penalty),
                                               False))
    return [sorted(hyps, key=lambda h: -h.score)[:n_best] for hyps in ended]
