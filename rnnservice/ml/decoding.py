"""Batched greedy and beam search over a Seq2Seq model, with a length penalty and a hard length cap."""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from rnnservice.ml.text import BOS_ID, EOS_ID, PAD_ID


@dataclass
class Hypothesis:
    tokens: list[int]      # target ids, without <bos>, without <eos>
    score: float           # sum of log-probabilities (with <eos> when it was produced) / length ** penalty
    finished: bool         # False: cut by the length cap before <eos>


def _normalize(logprob: float, length: int, length_penalty: float) -> float:
    return logprob / max(length, 1) ** length_penalty


def _caps(max_length: int | Tensor, batch: int) -> list[int]:
    """One output-length cap per input: each row's cap must not depend on what it is batched with."""
    if isinstance(max_length, Tensor):
        return [int(m) for m in max_length.tolist()]
    return [int(max_length)] * batch


def _next_logprobs(model, prev: Tensor, state, memory: Tensor, mask: Tensor):
    logits, state, _ = model.decode(prev, state, memory, mask)
    logits = logits[:, -1].float()                                                    # (N, V)
    logits[:, PAD_ID] = logits[:, BOS_ID] = float("-inf")      # never generated: <pad> marks a row's end
    return logits.log_softmax(-1), state


@torch.inference_mode()
def greedy_decode(model, ids: Tensor, lengths: Tensor, *, max_length: int | Tensor,
                  length_penalty: float = 1.0) -> list[Hypothesis]:
    """The most likely next token at each step, for a whole batch at once.

    `max_length` caps the decoding steps (<eos> is a step): one int, or a (B,) tensor of caps per row.
    """
    B = ids.size(0)
    caps = _caps(max_length, B)
    cap = torch.tensor(caps, device=ids.device)
    memory, mask, state = model.encode(ids, lengths)
    prev = torch.full((B, 1), BOS_ID, dtype=torch.long, device=ids.device)
    done = cap <= 0
    total = torch.zeros(B, device=ids.device)
    steps = []
    for step in range(max(caps, default=0)):
        if done.all():
            break
        logp, state = _next_logprobs(model, prev, state, memory, mask)
        logp, token = logp.max(-1)                                                    # (B,), (B,)
        total += logp.masked_fill(done, 0.0)
        token = token.masked_fill(done, PAD_ID)
        steps.append(token)
        done = done | (token == EOS_ID) | (cap <= step + 1)      # a row ends at <eos> or at its cap
        prev = token.unsqueeze(1)
    out = torch.stack(steps, 1).tolist() if steps else [[] for _ in range(B)]
    results = []
    for row, scored in zip(out, total.tolist(), strict=True):
        row = row[:row.index(PAD_ID)] if PAD_ID in row else row
        finished = EOS_ID in row
        tokens = row[:row.index(EOS_ID)] if finished else row
        results.append(Hypothesis(tokens, _normalize(scored, len(tokens) + finished, length_penalty), finished))
    return results


@torch.inference_mode()
def beam_decode(model, ids: Tensor, lengths: Tensor, *, beam_size: int, max_length: int | Tensor,
                length_penalty: float = 1.0, n_best: int = 1) -> list[list[Hypothesis]]:
    """Beam search for a batch: `n_best` hypotheses per input, best first.

    A hypothesis ends when <eos> ranks among the top `beam_size` candidates of a step; an input is
    done once it has `beam_size` ended hypotheses, or at its cap of decoding steps, where the best
    unfinished hypotheses fill up to `n_best`. With beam_size 1 this is exactly greedy decoding.
    """
    B, K, device = ids.size(0), beam_size, ids.device
    caps = _caps(max_length, B)
    memory, mask, state = model.encode(ids, lengths)
    expand = torch.arange(B, device=device).repeat_interleave(K)                    # (B*K,)
    memory, mask, state = memory[expand], mask[expand], model.reorder(state, expand)
    scores = torch.full((B, K), float("-inf"), device=device)
    scores[:, 0] = 0.0                                                               # one live beam at first
    history = torch.empty((B * K, 0), dtype=torch.long, device=device)
    prev = torch.full((B * K, 1), BOS_ID, dtype=torch.long, device=device)
    ended: list[list[Hypothesis]] = [[] for _ in range(B)]
    done = [False] * B
    for step in range(max(caps, default=0) + 1):
        for b in range(B):
            if not done[b] and step >= caps[b]:         # the cap: keep the best cut hypotheses too
                done[b] = True
                for k in range(K):
                    if len(ended[b]) < n_best and scores[b, k].isfinite():
                        row = history[b * K + k].tolist()
                        ended[b].append(Hypothesis(row, _normalize(scores[b, k].item(), len(row), length_penalty),
                                                   False))
        if all(done):
            break
        logp, state = _next_logprobs(model, prev, state, memory, mask)              # (B*K, V)
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
        live = top.masked_fill(is_eos, float("-inf"))
        scores, pick = live.topk(K, dim=1)                                           # (B, K)
        scores[torch.tensor(done, device=device)] = float("-inf")
        source = (beam.gather(1, pick) + torch.arange(B, device=device).unsqueeze(1) * K).view(-1)  # (B*K,)
        chosen = token.gather(1, pick).view(-1, 1)                                   # (B*K, 1)
        history = torch.cat([history[source], chosen], dim=1)
        state = model.reorder(state, source)
        prev = chosen
    return [sorted(hyps, key=lambda h: -h.score)[:n_best] for hyps in ended]
