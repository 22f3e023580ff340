"""Speed of the cells of rnnservice.ml.cells against nn.LSTM of the same size, and how their step loop is compiled.

    python -m bench.cells speed [--threads 1] [--rounds 15]      # each new cell against nn.LSTM
    python -m bench.cells loops [--varying] [--rounds 9]          # TorchScript vs torch.compile vs plain Python
    python -m bench.cells ud CELL [--epochs N] [--max-sentences N] # the UD EWT tagger with CELL as its encoder

Sizes are the UD tagger's (bench/configs/ud_upos.json): input 200 (words 100 + character CNN 100), 2 layers of 256
each way, batches of 16 sentences of 25 tokens with lengths from 5 to 25. Each figure is the median of rounds
that alternate the contenders, so a busy machine slows all of them alike; one run, one process.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
from torch.nn.utils.rnn import pack_padded_sequence

from rnnservice.ml import cells

INPUT, HIDDEN, LAYERS, BATCH, STEPS = 200, 256, 2, 16, 25


def _batch(seed: int = 0, steps: int = STEPS) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    lengths = torch.randint(min(5, steps), steps + 1, (BATCH,), generator=generator)
    lengths[0] = steps
    return torch.randn(BATCH, steps, INPUT, generator=generator), lengths


def _batches(varying: bool) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """One batch of 25 steps, or six whose longest rows differ (10 to 40 steps) as length-bucketed training gives."""
    return [_batch(i, steps) for i, steps in enumerate((10, 16, 22, 28, 34, 40))] if varying else [_batch()]


def _contenders() -> dict[str, torch.nn.Module]:
    torch.manual_seed(0)
    made = {"lstm": torch.nn.LSTM(INPUT, HIDDEN, LAYERS, batch_first=True, bidirectional=True, dropout=0.3)}
    made.update({name: cls(INPUT, HIDDEN, LAYERS, batch_first=True, bidirectional=True, dropout=0.3)
                 for name, cls in cells.CUSTOM_CELLS.items()})
    return made


def _train_step(rnn: torch.nn.Module, x: torch.Tensor, lengths: torch.Tensor) -> None:
    rnn.train()
    out, _ = rnn(pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False))
    out.data.square().mean().backward()
    rnn.zero_grad(set_to_none=True)


@torch.inference_mode()
def _predict_step(rnn: torch.nn.Module, x: torch.Tensor, lengths: torch.Tensor) -> None:
    rnn.eval()
    rnn(pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False))


def _race(contenders: dict, step, rounds: int, per_round: int = 5) -> dict[str, float]:
    """Median milliseconds per batch of each contender over alternated rounds (after two warm-up calls each)."""
    x, lengths = _batch()
    times: dict[str, list[float]] = {name: [] for name in contenders}
    for rnn in contenders.values():
        for _ in range(2):
            step(rnn, x, lengths)
    for _ in range(rounds):
        for name, rnn in contenders.items():
            started = time.perf_counter()
            for _ in range(per_round):
                step(rnn, x, lengths)
            times[name].append((time.perf_counter() - started) * 1000 / per_round)
    return {name: round(statistics.median(t), 2) for name, t in times.items()}


def speed(args: argparse.Namespace) -> None:
    contenders = _contenders()
    for label, step in (("train", _train_step), ("predict", _predict_step)):
        ms = _race(contenders, step, args.rounds)
        tokens = BATCH * (STEPS + 5) / 2                                         # mean length of _batch's rows
        for name, value in ms.items():
            print(json.dumps({"mode": label, "cell": name, "ms_per_batch": value,
                              "tokens_per_s": round(tokens * 1000 / value),
                              "times_lstm": round(value / ms["lstm"], 2)}), flush=True)


def loops(args: argparse.Namespace) -> None:
    """The peephole LSTM with its step loop scripted, compiled by torch.compile, or left as plain Python."""
    scripted = cells.peephole_loop
    variants = {"torchscript": scripted, "eager": cells.peephole_steps}
    if not args.no_compile:
        variants["torch.compile"] = torch.compile(cells.peephole_steps, dynamic=False)
    torch.manual_seed(0)
    rnn = cells.PeepholeLSTM(INPUT, HIDDEN, LAYERS, batch_first=True, bidirectional=True, dropout=0.3)
    batches = _batches(args.varying)
    for label, step in (("train", _train_step), ("predict", _predict_step)):
        for name, fn in variants.items():            # first pass: TorchScript profiles, torch.compile compiles
            cells.peephole_loop = fn
            started = time.perf_counter()
            for x, lengths in batches:
                step(rnn, x, lengths)
            print(json.dumps({"mode": label, "loop": name, "varying": args.varying,
                              "first_pass_s": round(time.perf_counter() - started, 2)}), flush=True)
        times: dict[str, list[float]] = {name: [] for name in variants}
        for _ in range(args.rounds):
            for name, fn in variants.items():
                cells.peephole_loop = fn
                started = time.perf_counter()
                for x, lengths in batches:
                    step(rnn, x, lengths)
                times[name].append((time.perf_counter() - started) * 1000 / len(batches))
        for name, t in times.items():
            print(json.dumps({"mode": label, "loop": name, "varying": args.varying,
                              "ms_per_batch": round(statistics.median(t), 2)}), flush=True)
    cells.peephole_loop = scripted


def ud(args: argparse.Namespace) -> None:
    """Train the UD EWT tagger of bench/configs/ud_upos.json with another cell through the real command line."""
    config = json.loads(Path("bench/configs/ud_upos.json").read_text())
    config["architecture"]["cell"] = args.cell
    data = args.data / "ud-english-ewt"
    train_file = data / "en_ewt-ud-train.conllu"
    work = Path(tempfile.mkdtemp(prefix=f"ud-{args.cell}-", dir=args.out))
    if args.max_sentences:            # the first N sentences: a shorter run on a busy machine, said in RESULTS
        text = train_file.read_text().split("\n\n")
        train_file = work / "train.conllu"
        train_file.write_text("\n\n".join(text[:args.max_sentences]) + "\n\n")
    (work / "config.json").write_text(json.dumps(config))
    command = [sys.executable, "-m", "rnnservice.ml", "train", "--task", "tagging", "--train", str(train_file),
               "--dev", str(data / "en_ewt-ud-dev.conllu"), "--config", str(work / "config.json"),
               "--device", "cpu", "--out", str(work / "model")]
    if args.epochs:
        command += ["--epochs", str(args.epochs)]
    epochs, saved = [], {}
    env = {**os.environ, "OMP_NUM_THREADS": str(args.threads)}       # the training process's own threads
    with subprocess.Popen(command, stdout=subprocess.PIPE, text=True, env=env) as proc:
        for line in proc.stdout:
            print(line, end="", flush=True)
            row = json.loads(line)
            (epochs.append(row) if "epoch" in row else saved.update(row))
    if proc.returncode:
        sys.exit(f"training failed with exit status {proc.returncode}")
    print(json.dumps({"benchmark": "ud_upos", "cell": args.cell, "epochs": len(epochs),
                      "max_sentences": args.max_sentences, "dev_accuracy": saved.get("dev_accuracy"),
                      "median_tokens_per_s": round(statistics.median(e["tokens_per_s"] for e in epochs)),
                      "median_epoch_seconds": round(statistics.median(e["seconds"] for e in epochs), 1)}),
          flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("what", choices=["speed", "loops", "ud"])
    parser.add_argument("cell", nargs="?", default="lstm", help="ud: the encoder's cell")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--no-compile", action="store_true", help="loops: leave torch.compile out")
    parser.add_argument("--varying", action="store_true", help="loops: six batch shapes instead of one")
    parser.add_argument("--epochs", type=int, help="ud: override the config's 20 epochs")
    parser.add_argument("--max-sentences", type=int, help="ud: train on the first N sentences only")
    parser.add_argument("--data", type=Path, default=Path("../shared/datasets"))
    parser.add_argument("--out", type=Path, default=Path("bench/out"))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    args.out.mkdir(parents=True, exist_ok=True)
    {"speed": speed, "loops": loops, "ud": ud}[args.what](args)


if __name__ == "__main__":
    main()
