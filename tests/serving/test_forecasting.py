"""Forecasting through serving: REST predict with the last `lookback` rows in, the next steps of each target
column out; the shape and horizon refused with a 400 that names what was expected; evaluation slides over the
windows of a dataset's test file; the predict command's --horizon."""
from __future__ import annotations

import json
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from apps.datasets.services import dataset_validate
from tests.trained import forecast_csv

PREDICT = "/api/models/load/predict/"
HISTORY = [[10.0, 5.0, float(hour)] for hour in range(12)]      # 12 rows of load, temp, hour: the look-back


@pytest.fixture
def forecaster(alice, make_forecaster):
    return make_forecaster(alice)


def test_it_forecasts_the_target_columns_over_rest(api, forecaster):
    response = api.post(PREDICT, {"inputs": [{"values": HISTORY}, {"values": HISTORY[::-1]}]}, format="json")
    assert response.status_code == 200, response.json()
    assert (response.json()["model"], response.json()["version"]) == ("load", 1)
    for output in response.json()["outputs"]:
        assert output["columns"] == ["load", "temp"]
        assert len(output["forecast"]) == 4 and all(len(row) == 2 for row in output["forecast"])


def test_a_shorter_horizon_is_an_option(api, forecaster):
    full = api.post(PREDICT, {"inputs": [{"values": HISTORY}]}, format="json").json()["outputs"][0]
    response = api.post(PREDICT, {"inputs": [{"values": HISTORY}], "options": {"horizon": 2}}, format="json")
    assert response.status_code == 200, response.json()
    assert response.json()["outputs"][0]["forecast"] == full["forecast"][:2]


@pytest.mark.parametrize(("body", "field", "words"), [
    ({"inputs": [{"values": HISTORY}], "options": {"horizon": 5}}, "options.horizon",
     "the model forecasts at most 4 steps (its trained horizon), not 5"),
    ({"inputs": [{"values": HISTORY}], "options": {"horizon": -1}}, "options.horizon", "must be at least 1"),
    ({"inputs": [{"values": HISTORY}], "options": {"beam_size": 2}}, None, "options.beam_size: unknown option"),
    ({"inputs": [{"values": HISTORY}, {"values": HISTORY[:5]}]}, "inputs",
     "inputs[1]: values: the model reads exactly 12 rows of 3 numbers (load, temp, hour)"),
    ({"inputs": [{"values": [row[:2] for row in HISTORY]}]}, "inputs",
     "the model takes 3 features per frame, this frame has 2"),
])
def test_a_wrong_shape_or_horizon_is_a_400_saying_what_was_expected(api, forecaster, body, field, words):
    response = api.post(PREDICT, body, format="json")
    assert response.status_code == 400, response.json()
    assert words in response.json()["detail"]
    if field:
        assert response.json()["field"] == field


def test_it_scores_a_version_on_the_windows_of_a_test_file(api, forecaster, tmp_path):
    (tmp_path / "train.csv").write_text(forecast_csv(160))
    (tmp_path / "test.csv").write_text(forecast_csv(40))
    with (tmp_path / "train.csv").open("rb") as train, (tmp_path / "test.csv").open("rb") as test:
        response = api.post("/api/datasets/", {"name": "waves", "task": "forecasting", "train": train,
                                               "test": test}, format="multipart")
    assert response.status_code == 201, response.json()
    dataset = dataset_validate(dataset_id=response.json()["id"])
    assert (dataset.status, dataset.format, dataset.input) == ("valid", "timeseries", "values"), dataset.error
    response = api.post("/api/models/load/evaluate/", {"dataset": dataset.pk}, format="json")
    assert response.status_code == 200, response.json()
    assert response.json()["examples"] == 40 - 16 + 1
    assert set(response.json()["metrics"]) == {"mse", "mae", "mse_units", "mae_units"}


def test_the_predict_command_takes_a_horizon(forecaster, tmp_path):
    inputs = tmp_path / "inputs.jsonl"
    inputs.write_text(json.dumps({"values": HISTORY}) + "\n")
    out = StringIO()
    call_command("predict", "load", "--inputs", str(inputs), "--horizon", "3", stdout=out)
    (line,) = out.getvalue().splitlines()
    row = json.loads(line)
    assert (row["model"], row["columns"], len(row["forecast"])) == ("load", ["load", "temp"], 3)


def test_the_evaluate_command_slides_over_a_file_and_prints_mse_and_mae_last(forecaster, tmp_path):
    data = tmp_path / "waves.csv"
    data.write_text(forecast_csv(30))
    out = StringIO()
    call_command("evaluate", "load", str(data), stdout=out, stderr=StringIO())
    row = json.loads(out.getvalue().splitlines()[-1])
    assert row["examples"] == 30 - 16 + 1 and list(row)[-2:] == ["mse", "mae"]
    short = tmp_path / "short.csv"
    short.write_text(forecast_csv(10))
    with pytest.raises(CommandError, match="no scored window: the longest series has 10 rows"):
        call_command("evaluate", "load", str(short), stdout=StringIO(), stderr=StringIO())
