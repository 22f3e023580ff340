"""Writes demo/load.csv: the `demo-load` data set, an hourly electricity load to forecast.

Eight weeks of hours (1,344 rows) from 2026-01-05 00:00: `load` (MW) with a daily shape (a morning and an evening
peak), lower at weekends, following `temperature` (°C, a daily cycle over a slow drift) where it is cold, plus
Gaussian noise. Seeded: running it again writes the same bytes. CSV with a `date,temperature,load` header; the
dev split is the end of the series, by time, as forecasting splits it.

    python demo/make_load.py
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

HOURS = 8 * 7 * 24
START = np.datetime64("2026-01-05T00:00")          # a Monday
HERE = Path(__file__).parent


def series(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """(temperature, load), one value an hour."""
    t = np.arange(HOURS)
    hour, day = t % 24, t // 24
    temperature = 2 + 4 * np.sin(2 * np.pi * (hour - 9) / 24) + 3 * np.sin(2 * np.pi * day / 40) \
        + rng.normal(0, 0.5, HOURS)
    daily = 20 * np.exp(-((hour - 8) / 2.5) ** 2) + 30 * np.exp(-((hour - 19) / 3) ** 2)
    weekend = np.where(day % 7 >= 5, 0.8, 1.0)
    heating = 2.5 * np.clip(10 - temperature, 0, None)
    load = weekend * (100 + daily) + heating + rng.normal(0, 2, HOURS)
    return temperature, load


def main() -> None:
    temperature, load = series(np.random.default_rng(20261205))
    with (HERE / "load.csv").open("w", encoding="utf-8") as out:
        out.write("date,temperature,load\n")
        for i, (temp, value) in enumerate(zip(temperature, load, strict=True)):
            when = str(START + np.timedelta64(i, "h")).replace("T", " ")
            out.write(f"{when}:00,{temp:.2f},{value:.1f}\n")


if __name__ == "__main__":
    main()
