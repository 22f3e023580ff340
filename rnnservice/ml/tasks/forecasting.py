"""Forecasting: the next `data.horizon` steps of some columns of a multivariate series (load, temperature,
traffic) from its last `data.lookback` steps, all at once.

A data file holds series (formats/timeseries.py); the examples are windows cut from them, `lookback` rows of every
column and the next `horizon` rows of the target columns. The split is by time, never random: the last
`data.dev_fraction` of each series (or `data.split_rows`) is dev, its windows starting `lookback` rows earlier, so
that every dev forecast is of dev rows. Values are z-scored with the training rows' mean and deviation, as the
literature does, and the metrics are MSE and MAE on those z-scores and in the data's own units.

Two heads (`architecture.forecast_head`):
- `segments` (the default), SegRNN (Lin et al., 2023): each target column alone (channel independence), its
  window cut into segments of `segment_length` steps, each segment embedded and read as one RNN step; the horizon's
  segments are decoded in parallel, each from the final state and a query of a position embedding and the column's
  embedding. Few recurrent steps, so long look-backs train fast, and state of the art for recurrent forecasters.
- `direct`: every column read together (input-only columns count here), segment by segment, and the whole horizon
  of the targets from the final state by one linear layer.
With `architecture.instance_norm` each window has its last value taken off and added back to the forecast (the
idea of reversible instance normalisation, as SegRNN does it): a model learns shapes, not levels that drift.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rnnservice.ml.config import RunConfig
from rnnservice.ml.data import Codec
from rnnservice.ml.dropout import Dropout
from rnnservice.ml.errors import ConfigError, InputError, MLError
from rnnservice.ml.formats.timeseries import TimeSeries
from rnnservice.ml.models import make_rnn
from rnnservice.ml.series import Normalizer
from rnnservice.ml.tasks.base import Task
from rnnservice.ml.tasks.inputs import count, series_input


@dataclass(eq=False)
class ForecastWindow:
    """One forecast: what the model reads and, for scoring, what happened next."""

    history: np.ndarray                   # (L, C) every column, in the data's units and the file's column order
    future: np.ndarray | None = None      # (H, K) the target columns' next steps; None at prediction
    scale: np.ndarray | None = None       # (K,) the targets' training deviation: the metrics' z-scores
    line: int = 0                         # the file line of the first future row; 0 when not from a file


@dataclass(frozen=True)
class ForecastOptions:
    horizon: int = 0        # steps to forecast, at most the trained horizon; 0 = the trained horizon


class ForecastCodec(Codec):
    """The columns, which of them are targets, their training mean and deviation, and the window's shape."""

    task, input, vocab_name = "forecasting", "values", ""

    def __init__(self, columns: list[str], targets: list[str], normalizer: Normalizer, lookback: int, horizon: int):
        self.columns, self.targets, self.normalizer = list(columns), list(targets), normalizer
        self.lookback, self.horizon = lookback, horizon
        self.target_index = [self.columns.index(name) for name in self.targets]
        # The model reads the targets first, then the input-only columns.
        self.order = self.target_index + [i for i in range(len(self.columns)) if i not in self.target_index]
        self.mean = torch.from_numpy(normalizer.mean)                                  # (C,)
        self.std = torch.from_numpy(normalizer.std)                                    # (C,)
        self.target_mean, self.target_std = self.mean[self.target_index], self.std[self.target_index]   # (K,)

    @property
    def features(self) -> int:
        return len(self.columns)

    @classmethod
    def fit(cls, examples: Sequence[TimeSeries], config: RunConfig, dev: Sequence = ()) -> ForecastCodec:
        columns = examples[0].columns
        for series in [*examples, *dev]:
            if isinstance(series, TimeSeries) and series.columns != columns:
                raise MLError(f"every series needs the same columns: {columns} and, at line {series.line}, "
                              f"{series.columns}")
        targets = config.data.targets or list(columns)
        for name in targets:
            if name not in columns:
                raise ConfigError("data.targets", f"{name!r} is not a column of the data; it has "
                                                  f"{', '.join(map(repr, columns))}")
        if len(set(targets)) != len(targets):
            raise ConfigError("data.targets", f"names a column twice: {targets}")
        return cls(columns, targets, Normalizer.fit([series.values for series in examples]),
                   config.data.lookback, config.data.horizon)

    def sizes(self) -> dict[str, int]:
        return {"features": self.features, "targets": len(self.targets)}

    def windows(self, series: TimeSeries, stride: int = 1) -> list[ForecastWindow]:
        """Every window of `series` whose forecast lies inside it, one each `stride` steps; views, no copies."""
        span = self.lookback + self.horizon
        targets = np.ascontiguousarray(series.values[:, self.target_index])          # (T, K), once a series
        scale = self.normalizer.std[self.target_index]
        return [ForecastWindow(series.values[start:start + self.lookback],
                               targets[start + self.lookback:start + span], scale,
                               series.line_of(start + self.lookback))
                for start in range(0, len(series.values) - span + 1, stride)]

    def encode(self, example, *, max_length=None):
        history = example.history
        if history.shape != (self.lookback, self.features):
            raise MLError(f"expected {self.lookback} rows of {self.features} values, got {history.shape}")
        item = {"values": torch.from_numpy(history)}                                   # (L, C), a view
        if example.future is not None:
            item["future"] = torch.from_numpy(example.future)                          # (H, K)
        return item

    def collate(self, items):
        values = (torch.stack([i["values"] for i in items]) - self.mean) / self.std    # (B, L, C) z-scores
        batch = {"values": values[..., self.order],                                     # targets first
                 "lengths": torch.full((len(items),), self.lookback, dtype=torch.long)}
        if "future" in items[0]:
            batch["future"] = (torch.stack([i["future"] for i in items]) - self.target_mean) / self.target_std
        return batch

    def to_dict(self):
        return {"task": self.task, "input": self.input, "columns": self.columns, "targets": self.targets,
                "normalizer": self.normalizer.to_dict(), "lookback": self.lookback, "horizon": self.horizon}

    @classmethod
    def from_dict(cls, data):
        norm = data["normalizer"]
        return cls(data["columns"], data["targets"], Normalizer(norm["mean"], norm["std"]), data["lookback"],
                   data["horizon"])


def _segments(x: Tensor, width: int) -> Tensor:
    """(B, T, D) -> (B, ceil(T / width), width * D): the series cut into segments, padded at its start with its
    first row when `width` does not divide T (the oldest steps matter least)."""
    pad = -x.size(1) % width
    if pad:
        x = torch.cat([x[:, :1].expand(-1, pad, -1), x], dim=1)
    return x.reshape(x.size(0), x.size(1) // width, width * x.size(2))


def _loss(name: str, predicted: Tensor, future: Tensor) -> Tensor:
    return (F.l1_loss if name == "mae" else F.mse_loss)(predicted.float(), future.float())


class SegmentForecaster(nn.Module):
    """SegRNN: each target column alone, its window as segments, the horizon's segments decoded in parallel."""

    def __init__(self, arch, targets: int, lookback: int, horizon: int, loss: str = "mse"):
        super().__init__()
        self.targets, self.horizon, self.width, self.loss = targets, horizon, arch.segment_length, loss
        self.out_segments = math.ceil(horizon / self.width)
        self.instance_norm = arch.instance_norm
        dim = arch.embed_dim
        self.embed = nn.Sequential(nn.Linear(self.width, dim), nn.ReLU())
        self.rnn = make_rnn(arch, dim, arch.hidden_dim, arch.num_layers, arch.bidirectional)
        self.position = nn.Parameter(torch.randn(self.out_segments, dim // 2))
        self.channel = nn.Parameter(torch.randn(targets, dim - dim // 2))
        self.drop = Dropout(arch.dropout)
        self.head = nn.Linear(arch.hidden_dim * (2 if arch.bidirectional else 1), self.width)

    def forward(self, values: Tensor, lengths: Tensor | None = None,
                future: Tensor | None = None) -> tuple[Tensor, Tensor | None]:
        """`values` (B, L, C) z-scores, the targets first -> the forecast (B, H, K) and the loss against `future`."""
        x = values[:, :, :self.targets]                                                # (B, L, K)
        last = x[:, -1:].detach() if self.instance_norm else torch.zeros_like(x[:, -1:])
        B, K, M = x.size(0), self.targets, self.out_segments
        series = (x - last).transpose(1, 2).reshape(B * K, -1, 1)                      # (B*K, L, 1)
        _, state = self.rnn(self.embed(_segments(series, self.width)))                 # (layers*dirs, B*K, H)
        queries = torch.cat([self.position.expand(K, M, -1),
                             self.channel.unsqueeze(1).expand(K, M, -1)], dim=-1)     # (K, M, E)
        queries = queries.expand(B, K, M, -1).reshape(B * K * M, 1, -1)                # (B*K*M, 1, E)
        state = tuple(s.repeat_interleave(M, dim=1) for s in state) if isinstance(state, tuple) else \
            state.repeat_interleave(M, dim=1)                                          # (layers*dirs, B*K*M, H)
        out, _ = self.rnn(queries, state)                                              # (B*K*M, 1, dirs*H)
        y = self.head(self.drop(out[:, 0]))                                            # (B*K*M, W)
        y = y.view(B, K, M * self.width)[:, :, :self.horizon].transpose(1, 2) + last  # (B, H, K)
        return y, None if future is None else _loss(self.loss, y, future)


class DirectForecaster(nn.Module):
    """Every column read together, segment by segment; the whole horizon of the targets from the final state."""

    def __init__(self, arch, features: int, targets: int, lookback: int, horizon: int, loss: str = "mse"):
        super().__init__()
        self.targets, self.horizon, self.width, self.loss = targets, horizon, arch.segment_length, loss
        self.instance_norm = arch.instance_norm
        self.directions = 2 if arch.bidirectional else 1
        self.embed = nn.Sequential(nn.Linear(self.width * features, arch.embed_dim), nn.ReLU())
        self.rnn = make_rnn(arch, arch.embed_dim, arch.hidden_dim, arch.num_layers, arch.bidirectional)
        self.drop = Dropout(arch.dropout)
        self.head = nn.Linear(arch.hidden_dim * self.directions, horizon * targets)

    def forward(self, values: Tensor, lengths: Tensor | None = None,
                future: Tensor | None = None) -> tuple[Tensor, Tensor | None]:
        last = values[:, -1:].detach() if self.instance_norm else torch.zeros_like(values[:, -1:])   # (B, 1, C)
        _, state = self.rnn(self.embed(_segments(values - last, self.width)))
        h = state[0] if isinstance(state, tuple) else state                            # (layers*dirs, B, H)
        final = torch.cat(list(h[-self.directions:]), dim=-1)                          # (B, dirs*H)
        y = self.head(self.drop(final)).view(-1, self.horizon, self.targets) + last[:, :, :self.targets]
        return y, None if future is None else _loss(self.loss, y, future)


class ForecastingTask(Task):
    name = "forecasting"
    inputs = ("values",)
    metrics = ("mse", "mae", "mse_units", "mae_units")
    lower_is_better = frozenset(metrics)
    own_fields = ("data.lookback", "data.horizon", "data.stride", "data.targets", "data.split_rows",
                  "architecture.forecast_head", "architecture.segment_length", "architecture.instance_norm",
                  "training.loss")
    # SegRNN's settings for ETTh1 (a GRU, segments of 48, dropout 0.5, batch 256, no weight decay, MAE loss) with a
    # GRU of 256 instead of 512 and a higher learning rate, so that it trains in minutes on a CPU (bench/RESULTS.md).
    defaults = {
        "values": {
            "architecture": {"cell": "gru", "embed_dim": 256, "hidden_dim": 256, "num_layers": 1,
                             "bidirectional": False, "dropout": 0.5},
            "training": {"epochs": 10, "batch_size": 256, "lr": 5e-3, "weight_decay": 0.0, "patience": 3,
                         "warmup": 0.0, "loss": "mae"},
        },
    }
    options_class = ForecastOptions
    batch_inputs = ("values", "lengths")

    def codec_class(self, input):
        return ForecastCodec

    def split(self, config, train, dev):
        if dev:
            return list(train), list(dev), {"dev": "given"}
        data, kept, held = config.data, [], []
        for series in train:
            rows = len(series.values)
            if data.split_rows:
                train_end, dev_end = _split_rows(data.split_rows, rows, series)
            else:
                train_end, dev_end = rows - max(1, round(rows * data.dev_fraction)), rows
            kept.append(series.rows(0, train_end))
            held.append(series.rows(max(0, train_end - data.lookback), dev_end))   # dev forecasts start at train_end
        how = {"dev": "rows", "split_rows": list(data.split_rows)} if data.split_rows else \
            {"dev": "time", "dev_fraction": data.dev_fraction}
        return kept, held, how

    def gold_examples(self, config, codec, examples, *, training=False):
        if not examples or isinstance(examples[0], ForecastWindow):
            return list(examples)
        windows = [w for series in examples for w in codec.windows(series, config.data.stride if training else 1)]
        if not windows:
            longest = max(len(series.values) for series in examples)
            what = "training" if training else "scored"
            raise MLError(f"no {what} window: the longest series has {longest:,} rows, and a window needs lookback + "
                          f"horizon = {codec.lookback} + {codec.horizon} rows; lower data.lookback or data.horizon, "
                          "or give longer series")
        return windows

    def build_model(self, config, sizes):
        arch, data = config.architecture, config.data
        if arch.forecast_head == "direct":
            return DirectForecaster(arch, sizes["features"], sizes["targets"], data.lookback, data.horizon,
                                    config.training.loss)
        return SegmentForecaster(arch, sizes["targets"], data.lookback, data.horizon, config.training.loss)

    def budget_sizes(self, config, data):
        features = max(1, data.features)
        return {"features": features, "targets": min(features, len(config.data.targets) or features)}

    def budget_steps(self, config, data):
        steps = math.ceil(config.data.lookback / config.architecture.segment_length)
        if config.architecture.forecast_head == "direct":
            return steps
        targets = self.budget_sizes(config, data)["targets"]
        return targets * (steps + math.ceil(config.data.horizon / config.architecture.segment_length))

    def parse_options(self, options, codec=None):
        parsed = super().parse_options(options, codec)
        if codec is not None and parsed.horizon > codec.horizon:
            raise ConfigError("options.horizon", f"the model forecasts at most {codec.horizon} steps (its trained "
                                                 f"horizon), not {parsed.horizon}")
        return parsed

    def check_options(self, options):
        if options.horizon < 0:
            raise ConfigError("options.horizon", f"must be at least 1, or 0 for the trained horizon, not "
                                                 f"{options.horizon}")

    def parse_input(self, codec, index, raw):
        window = series_input(index, raw, codec.features)
        if len(window.values) != codec.lookback:
            raise InputError(index, f"values: the model reads exactly {count(codec.lookback, 'row')} of "
                                    f"{count(codec.features, 'number')} ({', '.join(codec.columns)}), the "
                                    f"latest rows, oldest first; got {count(len(window.values), 'row')}")
        return ForecastWindow(window.values)

    def warm_up_inputs(self, codec):
        return [{"values": [[0.0] * codec.features] * codec.lookback}], {}

    def predict_batch(self, model, codec, batch, examples, options):
        predicted, _ = model(**batch)                                                  # (B, H, K) z-scores
        units = predicted.float().cpu() * codec.target_std + codec.target_mean
        units = units[:, :options.horizon or codec.horizon].double().numpy().round(6)
        return [{"forecast": rows, "columns": list(codec.targets)} for rows in units.tolist()]

    def score(self, examples, outputs):
        if not outputs:
            return {"mse": 0.0, "mae": 0.0, "mse_units": 0.0, "mae_units": 0.0}
        predicted = np.asarray([out["forecast"] for out in outputs], dtype=np.float64)          # (N, h, K)
        gold = np.stack([ex.future[:predicted.shape[1]] for ex in examples]).astype(np.float64)  # (N, h, K)
        error = predicted - gold
        z = error / np.stack([ex.scale for ex in examples])[:, None, :]
        return {"mse_units": float(np.mean(error ** 2)), "mae_units": float(np.mean(np.abs(error))),
                "mse": float(np.mean(z ** 2)), "mae": float(np.mean(np.abs(z)))}

    def input_schema(self, input):
        return {"type": "object", "title": "ForecastInput",
                "description": "The last `lookback` rows of the series, oldest first: each row one value of every "
                               "column the model was trained on, in the training file's order (a flat list of "
                               "numbers for a model of one column).",
                "properties": {"values": {"type": "array", "minItems": 1, "items": {
                    "oneOf": [{"type": "number"}, {"type": "array", "minItems": 1, "items": {"type": "number"}}]}}},
                "required": ["values"], "additionalProperties": False}

    def output_schema(self):
        return {"type": "object", "title": "ForecastOutput", "required": ["forecast", "columns"],
                "properties": {
                    "forecast": {"type": "array", "description": "The next steps, one row a step (`horizon` of "
                                                                 "them), each a value of every target column.",
                                 "items": {"type": "array", "items": {"type": "number"}}},
                    "columns": {"type": "array", "items": {"type": "string"},
                                "description": "The target columns, in the order of each row's values."}}}


def _split_rows(given: list[int], rows: int, series: TimeSeries) -> tuple[int, int]:
    """[train_end, dev_end] checked against a series of `rows` rows."""
    which = f"series {series.id!r}" if series.id is not None else "the series"
    if len(given) != 2 or not 0 < given[0] < given[1]:
        raise ConfigError("data.split_rows", f"must be [train_end, dev_end] with 0 < train_end < dev_end, "
                                             f"not {given}")
    if given[1] > rows:
        raise ConfigError("data.split_rows", f"dev_end {given[1]:,} is past the end of {which}, which has "
                                             f"{rows:,} rows")
    return given[0], given[1]


TASK = ForecastingTask()
