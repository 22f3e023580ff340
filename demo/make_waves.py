"""Writes demo/waves-train.tsv and demo/waves-dev.tsv: the `demo-waves` data set of numeric series.

Three classes of noisy waveforms, 60 steps each: `sine`, `square` and `sawtooth`, each with a random number of
cycles (1 to 3), phase, amplitude (0.5 to 1.5) and offset (-0.5 to 0.5), plus Gaussian noise (sd 0.1). 150
training series (50 a class) and 30 dev series (10 a class), shuffled, seeded: running it again writes the same
bytes. UCR layout: the label, then the 60 values, separated by tabs; no header.

    python demo/make_waves.py
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

STEPS = 60
CLASSES = ("sine", "square", "sawtooth")
NOISE = 0.1
HERE = Path(__file__).parent


def wave(kind: str, rng: np.random.Generator) -> np.ndarray:
    """One series of STEPS values of the given kind."""
    cycles, phase = rng.uniform(1.0, 3.0), rng.uniform(0.0, 1.0)
    position = (np.arange(STEPS) / STEPS * cycles + phase) % 1.0          # where in its cycle each step is, 0..1
    shape = {"sine": np.sin(2 * np.pi * position),
             "square": np.where(position < 0.5, 1.0, -1.0),
             "sawtooth": 2.0 * position - 1.0}[kind]
    return rng.uniform(0.5, 1.5) * shape + rng.uniform(-0.5, 0.5) + rng.normal(0.0, NOISE, STEPS)


def write(path: Path, per_class: int, rng: np.random.Generator) -> None:
    rows = [(kind, wave(kind, rng)) for kind in CLASSES for _ in range(per_class)]
    order = rng.permutation(len(rows))
    with path.open("w", encoding="utf-8") as out:
        for index in order:
            label, values = rows[index]
            out.write(label + "\t" + "\t".join(f"{value:.4f}" for value in values) + "\n")


def main() -> None:
    rng = np.random.default_rng(20261204)
    write(HERE / "waves-train.tsv", 50, rng)
    write(HERE / "waves-dev.tsv", 10, rng)


if __name__ == "__main__":
    main()
