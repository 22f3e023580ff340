"""Per-epoch rows (a training job's `epochs`) as the series the admin's charts draw: the train loss, each dev
metric, the learning rate. The job page and both compare pages use it; rnnservice/static/rnnservice/charts.js
builds the same shape from the API's answer while it polls."""
from __future__ import annotations

from typing import Any

FIRST, LAST = ("train_loss",), ("lr",)


def curve_names(rows: list[dict[str, Any]]) -> list[str]:
    """The series the rows have, train loss first, then the dev metrics by name, then the learning rate."""
    keys = {key for row in rows for key in row}
    dev = sorted(key for key in keys if key.startswith("dev_"))
    return [key for key in FIRST if key in keys] + dev + [key for key in LAST if key in keys]


def epoch_series(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """{"epochs": [1, 2, ...], "series": {"train_loss": [...], "dev_accuracy": [...], "lr": [...]}}."""
    rows = sorted(rows, key=lambda row: row["epoch"])
    return {"epochs": [row["epoch"] for row in rows],
            "series": {name: [row.get(name) for row in rows] for name in curve_names(rows)}}
