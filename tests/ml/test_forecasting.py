"""Tests for tasks/forecasting.py: windows cut by time, both heads, the z-scored metrics, prediction options and
inputs, a saved version, and the budget."""
from __future__ import annotations

import math

import pytest
import torch

from rnnservice.ml import tasks
from rnnservice.ml.artifacts import load_version
from rnnservice.ml.budget import DataShape, estimate
from rnnservice.ml.config import config_from_dict
from rnnservice.ml.errors import ConfigError, InputError, MLError
from rnnservice.ml.formats import read_examples
from rnnservice.ml.pipeline import train
from rnnservice.ml.predict import Predictor
from rnnservice.ml.tasks.forecasting import ForecastWindow
from tests.trained import forecast_csv

TASK = tasks.get("forecasting")
TINY = {"architecture": {"embed_dim": 8, "hidden_dim": 16, "segment_length": 4, "dropout": 0.0},
        "training": {"epochs": 3, "batch_size": 8, "lr": 1e-2},
        "data": {"lookback": 12, "horizon": 4}}


def write_waves(folder, rows: int = 160, name: str = "waves.csv") -> str:
    path = folder / name
    path.write_text(forecast_csv(rows))
    return str(path)


def config(**sections):
    merged = {key: {**TINY.get(key, {}), **sections.get(key, {})} for key in {*TINY, *sections}}
    return config_from_dict(merged, task="forecasting", input="values")


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    folder = tmp_path_factory.mktemp("forecast")
    cfg = config(data={"targets": ["load", "temp"]})
    series = read_examples(write_waves(folder), task="forecasting")
    torch.manual_seed(0)
    return train(cfg, series), folder


def test_the_dev_split_is_the_end_of_the_series_by_time(tmp_path):
    (series,) = read_examples(write_waves(tmp_path), task="forecasting")
    cfg = config(data={"dev_fraction": 0.25})
    kept, held, how = TASK.split(cfg, [series], None)
    assert how == {"dev": "time", "dev_fraction": 0.25}
    assert len(kept[0].values) == 120 and kept[0].line == 2
    assert len(held[0].values) == 12 + 40 and held[0].line == 2 + 120 - 12   # dev windows' history starts earlier
    codec = TASK.codec_class("values").fit(kept, cfg)
    dev = TASK.gold_examples(cfg, codec, held)
    assert dev[0].line == 2 + 120                          # the first dev forecast is of the first dev row
    assert len(dev) == 40 - 4 + 1


def test_split_rows_and_their_errors(tmp_path):
    (series,) = read_examples(write_waves(tmp_path), task="forecasting")
    kept, held, how = TASK.split(config(data={"split_rows": [100, 140]}), [series], None)
    assert (len(kept[0].values), len(held[0].values), how["dev"]) == (100, 52, "rows")
    with pytest.raises(ConfigError, match="dev_end 500 is past the end of the series, which has 160 rows"):
        TASK.split(config(data={"split_rows": [100, 500]}), [series], None)
    with pytest.raises(ConfigError, match="data.split_rows: must be \\[train_end, dev_end\\]"):
        TASK.split(config(data={"split_rows": [100]}), [series], None)


def test_training_windows_take_the_stride_and_scored_windows_every_step(tmp_path):
    (series,) = read_examples(write_waves(tmp_path), task="forecasting")
    cfg = config(data={"stride": 5})
    codec = TASK.codec_class("values").fit([series], cfg)
    assert len(TASK.gold_examples(cfg, codec, [series], training=True)) == math.ceil((160 - 16 + 1) / 5)
    assert len(TASK.gold_examples(cfg, codec, [series])) == 160 - 16 + 1
    with pytest.raises(MLError, match="the longest series has 10 rows, and a window needs lookback \\+ horizon"):
        TASK.gold_examples(cfg, codec, [series.rows(0, 10)])


def test_a_forecaster_learns_and_scores_in_z_scores_and_units(trained):
    result, _ = trained
    first, last = result.fit.history[0], result.fit.history[-1]
    assert last.train_loss < first.train_loss
    assert set(result.metrics) == {"mse", "mae", "mse_units", "mae_units"}
    assert result.split["metric"] == "mse" and result.split["dev"] == "time"
    assert result.metrics["mse"] < 1.0                    # better than forecasting the training mean


def test_prediction_gives_the_targets_for_the_horizon_and_takes_a_shorter_one(trained):
    result, _ = trained
    predictor = Predictor(result.model, result.codec, result.config)
    rows = [[10.0, 5.0, float(h % 24)] for h in range(12)]
    (out,) = predictor.predict([{"values": rows}])
    assert out["columns"] == ["load", "temp"]
    assert len(out["forecast"]) == 4 and all(len(step) == 2 for step in out["forecast"])
    (short,) = predictor.predict([{"values": rows}], horizon=2)
    assert short["forecast"] == out["forecast"][:2]


def test_bad_horizons_and_inputs_are_refused_with_what_was_expected(trained):
    result, _ = trained
    predictor = Predictor(result.model, result.codec, result.config)
    with pytest.raises(MLError, match="options.horizon: the model forecasts at most 4 steps"):
        predictor.options({"horizon": 5})
    with pytest.raises(MLError, match="options.horizon: must be at least 1"):
        predictor.options({"horizon": -1})
    with pytest.raises(MLError, match="options.horizon: must be an integer"):
        predictor.options({"horizon": "2"})
    with pytest.raises(InputError, match="exactly 12 rows of 3 numbers \\(load, temp, hour\\).*got 3 rows"):
        predictor.predict([{"values": [[1.0, 2.0, 3.0]] * 3}])
    with pytest.raises(InputError, match="the model takes 3 features per frame, this frame has 2"):
        predictor.predict([{"values": [[1.0, 2.0]] * 12}])


def test_the_direct_head_reads_every_column(tmp_path):
    series = read_examples(write_waves(tmp_path), task="forecasting")
    result = train(config(architecture={"forecast_head": "direct"}, data={"targets": ["temp"]},
                          training={"epochs": 1}), series)
    out = Predictor(result.model, result.codec, result.config).predict([{"values": [[1.0, 2.0, 3.0]] * 12}])
    assert out[0]["columns"] == ["temp"] and len(out[0]["forecast"]) == 4


def test_a_saved_version_predicts_the_same(trained):
    result, folder = trained
    result.save(folder / "version")
    version = load_version(folder / "version")
    inputs = [{"values": [[10.0 + i, 5.0, float(i)] for i in range(12)]}]
    before = Predictor(result.model, result.codec, result.config).predict(inputs)
    assert Predictor(version.model, version.codec, version.config).predict(inputs) == before
    assert version.config.data.targets == ["load", "temp"]


def test_evaluation_slides_over_a_file(trained, tmp_path):
    result, _ = trained
    predictor = Predictor(result.model, result.codec, result.config)
    windows = predictor.gold_examples(read_examples(write_waves(tmp_path, rows=40), task="forecasting"))
    assert len(windows) == 40 - 16 + 1 and isinstance(windows[0], ForecastWindow)
    metrics = predictor.evaluate(windows)
    assert list(metrics)[-2:] == ["mse", "mae"]
    assert metrics["mse"] > 0 and metrics["mse_units"] > 0


def test_unknown_targets_and_fields_of_forecasting_for_other_tasks_are_refused(tmp_path):
    series = read_examples(write_waves(tmp_path), task="forecasting")
    with pytest.raises(ConfigError, match="data.targets: 'OT' is not a column of the data"):
        train(config(data={"targets": ["OT"]}), series)
    with pytest.raises(ConfigError, match="data.targets\\[0\\]: must be str, not int"):
        config(data={"targets": [1]})
    with pytest.raises(ConfigError, match="data.lookback: applies to forecasting only"):
        config_from_dict({"data": {"lookback": 10}}, task="classification")
    with pytest.raises(ConfigError, match="architecture.forecast_head: must be one of"):
        config(architecture={"forecast_head": "tcn"})


def test_the_budget_counts_windows_not_the_whole_series():
    cfg = config_from_dict({"data": {"lookback": 720, "horizon": 96}}, task="forecasting", input="values")
    small = estimate(cfg, DataShape(tokens=0, length=17_420, features=7))
    assert 200_000 < small.parameters < 1_000_000          # a GRU of 256 and its embeddings
    assert small.memory_bytes < 2 * 1024 ** 3
    longer = config_from_dict({"data": {"lookback": 1440, "horizon": 96}}, task="forecasting", input="values")
    assert estimate(longer, DataShape(tokens=0, length=17_420, features=7)).memory_bytes > small.memory_bytes


def test_a_config_without_an_input_kind_gets_the_forecasting_defaults():
    config = config_from_dict({}, task="forecasting")
    assert (config.architecture.cell, config.architecture.hidden_dim, config.training.batch_size) == ("gru", 256, 256)
