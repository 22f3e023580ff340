"""Training steps per second of a word-level language model with a full softmax against the adaptive softmax
(issue 18), on the CPU, at WikiText-2's vocabulary size: random token ids, so no data set is needed.

    python -m bench.adaptive_softmax [--vocab 33278] [--steps 20] [--threads 1]

The model is bench/configs/wikitext2.json's (2-layer LSTM of 200, batch 20, windows of 35 tokens); each step is a
forward pass, the loss, a backward pass and an AdamW update, as training runs them.
"""
from __future__ import annotations

import argparse
import json
import time

import torch

from rnnservice.ml.config import config_from_dict
from rnnservice.ml.tasks.generation import LanguageModel


def steps_per_second(adaptive: bool, vocab: int, steps: int) -> float:
    data = json.load(open("bench/configs/wikitext2.json"))
    data["architecture"]["adaptive_softmax"] = adaptive
    config = config_from_dict(data, task="generation")
    torch.manual_seed(0)
    model = LanguageModel(config.architecture, vocab)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    batch, bptt = config.training.batch_size, config.training.bptt
    ids = torch.randint(4, vocab, (steps + 2, batch, bptt + 1))
    lengths = torch.full((batch,), bptt)
    for i in range(steps + 2):
        if i == 2:                                   # two warm-up steps: torch's lazy set-up is not counted
            started = time.perf_counter()
        _, loss = model(ids[i, :, :-1], lengths, target=ids[i, :, 1:])
        opt.zero_grad()
        loss.backward()
        opt.step()
    return steps / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--vocab", type=int, default=33_278)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    full, adaptive = (steps_per_second(a, args.vocab, args.steps) for a in (False, True))
    tokens = json.load(open("bench/configs/wikitext2.json"))["training"]
    per_step = tokens["batch_size"] * tokens["bptt"]
    print(json.dumps({"vocab": args.vocab, "threads": args.threads, "full_tokens_per_s": round(full * per_step),
                      "adaptive_tokens_per_s": round(adaptive * per_step), "speedup": round(adaptive / full, 2)}))


if __name__ == "__main__":
    main()
