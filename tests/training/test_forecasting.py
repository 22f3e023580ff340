"""Training a forecaster through the service: a table of time steps validates with its columns and times, a launch
takes forecasting's data fields (lookback, horizon, targets) but never the dataset's format, and `manage.py train`
trains and registers a version that records them."""
from __future__ import annotations

import json
from io import StringIO

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command

from apps.datasets.models import Dataset
from apps.datasets.services import dataset_create, dataset_validate
from apps.training.models import TrainingJob
from apps.training.services import job_launch
from rnnservice.errors import ServiceError
from rnnservice.ml.config import task_defaults
from tests.trained import FORECAST_TINY, forecast_csv


def forecast_dataset(owner, text: str | None = None, name: str = "waves") -> Dataset:
    dataset = dataset_create(owner=owner, name=name, task="forecasting", queue_validation=False,
                             train=SimpleUploadedFile("waves.csv", (text or forecast_csv()).encode()))
    return dataset_validate(dataset_id=dataset.pk)


def test_a_table_of_time_steps_validates_with_its_columns_and_times(alice):
    dataset = forecast_dataset(alice)
    assert (dataset.status, dataset.format, dataset.input) == ("valid", "timeseries", "values"), dataset.error
    train = dataset.statistics["splits"]["train"]
    assert (train["examples"], train["frames"], train["features"]) == (1, 160, 3)
    assert train["columns"] == ["load", "temp", "hour"]
    assert (train["start"], train["end"], train["step"]) == ("2024-01-01T00:00:00", "2024-01-07T15:00:00", 3600)
    assert dataset.statistics["dev_split"] == {"dev": "time", "dev_fraction": 0.1}


def test_a_gap_in_time_makes_the_dataset_invalid_at_its_line(alice):
    lines = forecast_csv().splitlines()
    del lines[10]                                               # the 10th row: line 11 of the file
    dataset = forecast_dataset(alice, "\n".join(lines) + "\n")
    assert dataset.status == "invalid"
    assert (dataset.error_file, dataset.error_line) == ("train", 11)
    assert dataset.error.startswith("column 'date': a gap: 2024-01-01T10:00:00 follows 2024-01-01T08:00:00")


def test_a_launch_takes_forecasting_fields_over_the_task_defaults(alice, sent):
    dataset = forecast_dataset(alice)
    job = job_launch(owner=alice, dataset=dataset, model_name="load",
                     data={"lookback": 24, "horizon": 6, "targets": ["load"]})
    data = job.config["data"]
    assert (data["lookback"], data["horizon"], data["targets"], data["input"]) == (24, 6, ["load"], "values")
    defaults = task_defaults("forecasting", "values")["architecture"]
    assert {key: job.config["architecture"][key] for key in defaults} == defaults


@pytest.mark.parametrize(("data", "field"), [({"format": "csv"}, "data.format"), ({"input": "tokens"}, "data.input"),
                                             ({"lookback": 0}, "data.lookback"), ({"targets": "load"}, "data.targets"),
                                             ({"targets": ["OT"]}, "data.targets"),
                                             ({"lookback": 150, "horizon": 24}, "data.lookback")])
def test_a_launch_refuses_the_datasets_fields_and_bad_values(alice, data, field):
    dataset = forecast_dataset(alice)
    with pytest.raises(ServiceError) as caught:
        job_launch(owner=alice, dataset=dataset, model_name="load", data=data)
    assert caught.value.extra["field"] == field
    assert not TrainingJob.objects.exists()


def test_the_api_takes_a_data_section(api, alice, sent):
    dataset = forecast_dataset(alice)
    response = api.post("/api/training-jobs/", {"dataset": dataset.pk, "model_name": "load",
                                                "data": {"lookback": 48, "horizon": 12}}, format="json")
    assert response.status_code == 201, response.data
    assert response.data["config"]["data"]["horizon"] == 12


def test_manage_py_train_trains_and_registers_a_forecaster(transactional_db, alice, tmp_path, sent):
    dataset = forecast_dataset(alice)
    config = tmp_path / "tiny.json"
    config.write_text(json.dumps(FORECAST_TINY))
    call_command("train", str(dataset.pk), "--model", "load", "--config", str(config), "--sync",
                 stdout=StringIO(), stderr=StringIO())
    job = TrainingJob.objects.get()
    assert job.status == "succeeded", job.error
    assert {"dev_mse", "dev_mae"} <= job.epochs[-1].keys()
    saved = json.loads((job.version.folder / "config.json").read_text())
    assert (saved["config"]["data"]["lookback"], saved["split"]["dev"]) == (12, "time")
    assert set(job.version.metrics) == {"mse", "mae", "mse_units", "mae_units"}
