"""Mixed-length batches padded (rnnservice.ml.padded_rnn) against packed, for the tasks whose encoder changed, and
one training step of the WikiText-2 language model with run_unpadded against torch's fused call; alternated rounds.

    python -m bench.padded_rnn [--data ../shared/datasets] [--rounds 2] [--lm-rounds 8]

Prints one JSON line per task: one epoch's training tokens/s through `rnnservice.ml.pipeline.train`, medians.
(The tagger has its own arms in bench.throughput.)
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import statistics
import time
from pathlib import Path

import torch

import rnnservice.ml.models as models
import rnnservice.ml.tasks.generation as generation
from rnnservice.ml.config import config_from_dict
from rnnservice.ml.pipeline import load_examples, train

TASKS = {
    # name: task, bench config (None: the task's defaults), training file(s) under --data, examples used
    "sst2": ("classification", "bench/configs/sst2.json", "sst2/train.tsv", 8000),
    "japanese_vowels": ("classification", None, "japanese-vowels/JapaneseVowels_TRAIN.ts", None),
    "multi30k": ("translation", "bench/configs/multi30k.json", "multi30k-de-en/train.de,multi30k-de-en/train.en",
                 4000),
}


def never(rnn, x) -> bool:
    return False


def task_epochs(name: str, data: Path, rounds: int) -> dict:
    task, config_path, files, limit = TASKS[name]
    config = config_from_dict(json.loads(Path(config_path).read_text()) if config_path else {}, task=task)
    config = dataclasses.replace(config, training=dataclasses.replace(config.training, epochs=1, ensemble=1))
    paths = [str(data / f) for f in files.split(",")]
    examples = load_examples(config, paths[0] if len(paths) == 1 else tuple(paths))[:limit]
    padded = models.runs_padded
    arms: dict[str, list[float]] = {"padded": [], "packed": []}
    try:
        for _ in range(rounds):
            for arm in arms:
                models.runs_padded = padded if arm == "padded" else never
                arms[arm].append(train(config, examples).fit.history[0].tokens_per_s)
    finally:
        models.runs_padded = padded
    a, b = statistics.median(arms["padded"]), statistics.median(arms["packed"])
    return {"task": name, "examples": len(examples), "padded_tokens_per_s": round(a),
            "packed_tokens_per_s": round(b), "ratio": round(a / b, 3)}


def lm_steps(rounds: int) -> dict:
    """The bench config's LanguageModel on Zipf-drawn ids (32 x 35), AdamW and clipping as training does."""
    config = config_from_dict(json.loads(Path("bench/configs/wikitext2.json").read_text()), task="generation")
    torch.manual_seed(0)
    vocab = 33_281                                                   # WikiText-2's types and the specials
    model = generation.LanguageModel(config.architecture, vocab).train()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, fused=True)
    zipf = 1.0 / torch.arange(1, vocab - 2, dtype=torch.float)
    generator = torch.Generator().manual_seed(0)
    data = [(torch.multinomial(zipf, 32 * 36, replacement=True, generator=generator) + 3).view(32, 36)
            for _ in range(6)]

    def step(ids: torch.Tensor) -> float:
        start = time.perf_counter()
        _, loss = model(ids[:, :35], torch.full((32,), 35), ids[:, 1:], carry=torch.tensor(True))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), config.training.clip)
        opt.step()
        return time.perf_counter() - start

    padded = generation.runs_padded
    arms: dict[str, list[float]] = {"run_unpadded": [], "fused": []}
    try:
        for _ in range(rounds):
            for arm in arms:
                generation.runs_padded = padded if arm == "run_unpadded" else never
                step(data[0])                                        # warm
                arms[arm].append(statistics.median(step(ids) for ids in data) * 1e3)
    finally:
        generation.runs_padded = padded
    a, b = statistics.median(arms["run_unpadded"]), statistics.median(arms["fused"])
    return {"task": "wikitext2_step", "run_unpadded_ms": round(a, 1), "fused_ms": round(b, 1),
            "ratio": round(b / a, 3)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", type=Path, default=Path("../shared/datasets"))
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--lm-rounds", type=int, default=8)
    args = parser.parse_args()
    for name in TASKS:
        print(json.dumps(task_epochs(name, args.data, args.rounds)), flush=True)
    print(json.dumps(lm_steps(args.lm_rounds)), flush=True)


if __name__ == "__main__":
    main()
