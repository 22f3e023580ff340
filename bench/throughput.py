"""Our training loop and Predictor against plain PyTorch on the same model and batches, in one run; and our loop
as it trains today (batches of one length, the fused AdamW, rnnservice.ml.dropout's cheaper draws, mixed-length
batches padded instead of packed) against our loop as it trained before issue 19 (batches of similar lengths,
AdamW's default implementation, torch's dropout, packing), and against each change alone.

    python -m bench.throughput [--data ../shared/datasets] [--sentences 3000] [--rounds 5]

Prints one JSON line per measurement and a summary line with the ratios (medians of alternated rounds).
"""
from __future__ import annotations

import argparse
import json
import statistics
import time
from contextlib import contextmanager
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

import rnnservice.ml.cells
import rnnservice.ml.dropout
import rnnservice.ml.models
import rnnservice.ml.padded_rnn
from rnnservice.ml.config import config_from_dict
from rnnservice.ml.data import batches
from rnnservice.ml.formats import read_examples
from rnnservice.ml.models import build_model, vocab_sizes
from rnnservice.ml.predict import Predictor
from rnnservice.ml.tasks.tagging import TaggingCodec
from rnnservice.ml.training import fit


def plain_epoch(model: nn.Module, data: list[dict], lr: float, clip: float) -> float:
    """The textbook loop: what a user would write by hand. Returns tokens per second."""
    opt = torch.optim.AdamW(model.parameters(), lr=lr)
    model.train()
    start, tokens = time.perf_counter(), 0
    for batch in data:
        tokens += int(batch["lengths"].sum())
        _, loss = model(**batch)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), clip)
        opt.step()
    return tokens / (time.perf_counter() - start)


def our_epoch(model: nn.Module, data: list[dict], cfg) -> float:
    result = fit(model, lambda epoch: data, len(data), lambda m: {"accuracy": 0.0}, cfg, metric="accuracy",
                 device=torch.device("cpu"))
    return result.history[0].tokens_per_s


@contextmanager
def default_adamw():
    """AdamW's default (foreach) implementation, as training used before the fused kernel."""
    fused_adamw = torch.optim.AdamW
    torch.optim.AdamW = lambda params, **kwargs: fused_adamw(params, **{**kwargs, "fused": None})
    try:
        yield
    finally:
        torch.optim.AdamW = fused_adamw


@contextmanager
def torch_dropout():
    """torch's own dropout (one Mersenne Twister draw an element), as training used before rnnservice.ml.dropout."""
    cheap = rnnservice.ml.dropout.dropout
    rnnservice.ml.dropout.dropout = rnnservice.ml.cells.dropout = F.dropout
    try:
        yield
    finally:
        rnnservice.ml.dropout.dropout = rnnservice.ml.cells.dropout = cheap


@contextmanager
def packing():
    """Mixed-length batches packed for torch's RNNs, as training did before rnnservice.ml.padded_rnn."""
    padded = rnnservice.ml.models.runs_padded
    rnnservice.ml.models.runs_padded = lambda rnn, x: False
    try:
        yield
    finally:
        rnnservice.ml.models.runs_padded = padded


def median_time(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", type=Path, default=Path("../shared/datasets"))
    parser.add_argument("--sentences", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--batch-size", type=int, help="train today's loop at this batch size (the loop of before "
                        "keeps the config's); bench.accuracy --batch-size checks the dev score at it")
    args = parser.parse_args()

    config = config_from_dict(json.loads(Path("bench/configs/ud_upos.json").read_text()), task="tagging")
    config.training.epochs = 1
    examples = read_examples(str(args.data / "ud-english-ewt/en_ewt-ud-train.conllu"), task="tagging")
    examples = examples[:args.sentences]
    codec = TaggingCodec.fit(examples, config)
    items = [codec.encode(ex) for ex in examples]
    size = args.batch_size or config.training.batch_size
    data = [b for _, b in batches(items, codec, batch_size=size, shuffle=True, seed=1)]
    mixed = [b for _, b in batches(items, codec, batch_size=size, shuffle=True, seed=1, exact_lengths=False)]
    before = [b for _, b in batches(items, codec, batch_size=config.training.batch_size, shuffle=True, seed=1,
                                    exact_lengths=False)]
    torch.manual_seed(0)
    model = build_model(config, vocab_sizes(codec))
    initial = {k: v.clone() for k, v in model.state_dict().items()}

    ours, plain, ours_mixed, ours_default_adamw, ours_torch_dropout, ours_packed, ours_before = \
        [], [], [], [], [], [], []
    for round_ in range(args.rounds):          # alternate, so that machine noise hits all alike
        model.load_state_dict(initial)
        plain.append(plain_epoch(model, data, config.training.lr, config.training.clip))
        model.load_state_dict(initial)
        ours.append(our_epoch(model, data, config.training))
        model.load_state_dict(initial)
        ours_mixed.append(our_epoch(model, mixed, config.training))
        with default_adamw():
            model.load_state_dict(initial)
            ours_default_adamw.append(our_epoch(model, data, config.training))
        with torch_dropout():
            model.load_state_dict(initial)
            ours_torch_dropout.append(our_epoch(model, data, config.training))
        with packing():
            model.load_state_dict(initial)
            ours_packed.append(our_epoch(model, data, config.training))
        with default_adamw(), torch_dropout(), packing():
            model.load_state_dict(initial)
            ours_before.append(our_epoch(model, before, config.training))
        print(json.dumps({"round": round_ + 1, "plain_tokens_per_s": round(plain[-1]),
                          "ours_tokens_per_s": round(ours[-1]), "ours_mixed_lengths_tokens_per_s":
                          round(ours_mixed[-1]), "ours_default_adamw_tokens_per_s": round(ours_default_adamw[-1]),
                          "ours_torch_dropout_tokens_per_s": round(ours_torch_dropout[-1]),
                          "ours_packed_tokens_per_s": round(ours_packed[-1]),
                          "ours_before_tokens_per_s": round(ours_before[-1])}), flush=True)

    model.load_state_dict(initial)
    predictor = Predictor(model, codec, config)
    predict = {}
    for n in (1, 64):
        raw = [{"tokens": ex.tokens} for ex in examples[:n]]
        batch = {k: v for k, v in codec.collate([codec.encode(ex) for ex in examples[:n]]).items()
                 if k != "tags"}

        def bare(batch=batch):
            with torch.inference_mode():
                model(**batch)[0].softmax(-1).max(-1)

        def through(raw=raw):
            predictor.predict(raw)

        bare_s = median_time(bare, 50 if n == 1 else 10)
        ours_s = median_time(through, 50 if n == 1 else 10)
        predict[n] = {"bare_ms": round(bare_s * 1e3, 3), "predictor_ms": round(ours_s * 1e3, 3),
                      "ratio": round(bare_s / ours_s, 3)}
    summary = {
        "benchmark": "throughput", "threads": torch.get_num_threads(), "sentences": len(examples),
        "batch_size": size, "batch_size_before": config.training.batch_size,
        "train_plain_tokens_per_s": round(statistics.median(plain)),
        "train_ours_tokens_per_s": round(statistics.median(ours)),
        "train_ratio": round(statistics.median(ours) / statistics.median(plain), 3),
        "batches_one_length": len(data), "batches_mixed_lengths": len(mixed),
        "train_mixed_lengths_tokens_per_s": round(statistics.median(ours_mixed)),
        "one_length_vs_mixed_ratio": round(statistics.median(ours) / statistics.median(ours_mixed), 3),
        "train_default_adamw_tokens_per_s": round(statistics.median(ours_default_adamw)),
        "fused_vs_default_adamw_ratio": round(statistics.median(ours) / statistics.median(ours_default_adamw), 3),
        "train_torch_dropout_tokens_per_s": round(statistics.median(ours_torch_dropout)),
        "cheap_vs_torch_dropout_ratio": round(statistics.median(ours) / statistics.median(ours_torch_dropout), 3),
        "train_packed_tokens_per_s": round(statistics.median(ours_packed)),
        "padded_vs_packed_ratio": round(statistics.median(ours) / statistics.median(ours_packed), 3),
        "train_before_tokens_per_s": round(statistics.median(ours_before)),
        "today_vs_before_ratio": round(statistics.median(ours) / statistics.median(ours_before), 3),
        "predict_1": predict[1], "predict_64": predict[64],
    }
    print(json.dumps(summary), flush=True)


if __name__ == "__main__":
    main()
