"""Training on a dataset of numeric series: the API, the admin and `manage.py train` all launch through job_launch,
which builds the config over the numeric defaults (data.input "values"); a worker trains and registers it."""
from __future__ import annotations

import json
from io import StringIO

import pytest
from django.core.management import call_command
from rest_framework.test import APIClient

from apps.datasets.models import Dataset
from apps.datasets.services import dataset_validate
from apps.training.models import TrainingJob
from apps.training.services import job_launch
from rnnservice.ml.config import task_defaults
from tests.factories import DatasetFactory
from tests.training.conftest import TINY_ARCHITECTURE, TINY_TRAINING

URL = "/api/training-jobs/"
SERIES_FILES = {"classification": {"train": "series_ucr.tsv", "dev": "series_ucr.tsv"},
                "tagging": {"train": "series_tagging.npz", "dev": "series_tagging.npz"}}


def series_dataset(owner, task: str = "classification") -> Dataset:
    dataset = DatasetFactory(owner=owner, task=task, format=None, name=f"beats {task}", files=SERIES_FILES[task])
    dataset = dataset_validate(dataset_id=dataset.pk)
    assert (dataset.status, dataset.input) == ("valid", "values"), dataset.error
    return dataset


@pytest.fixture
def beats(alice) -> Dataset:
    return series_dataset(alice)


def test_the_api_launches_over_the_numeric_defaults(api, beats, sent):
    response = api.post(URL, {"dataset": beats.pk, "model_name": "beats"}, format="json")
    assert response.status_code == 201, response.data
    config = TrainingJob.objects.get().config
    assert config["data"]["input"] == response.data["config"]["data"]["input"] == "values"
    defaults = task_defaults("classification", "values")
    assert {key: config["architecture"][key] for key in defaults["architecture"]} == defaults["architecture"]
    assert config["training"]["epochs"] == defaults["training"]["epochs"]


def test_the_api_refuses_a_field_for_text_input_on_series(api, beats):
    response = api.post(URL, {"dataset": beats.pk, "model_name": "beats", "architecture": {"char_dim": 8}},
                        format="json")
    assert response.status_code == 400
    assert response.data["field"] == "architecture.char_dim"
    assert "applies to tokens input only, not values" in response.data["detail"]
    assert not TrainingJob.objects.exists()


def test_a_text_dataset_still_gets_the_text_defaults(alice, tagging_data):
    job = job_launch(owner=alice, dataset=tagging_data, model_name="upos")
    assert job.config["data"]["input"] == "tokens"
    assert job.config["architecture"]["input_conv"] == 0


def test_the_admin_launches_over_the_numeric_defaults(admin_client, alice, beats, sent):
    response = admin_client.post("/admin/training/trainingjob/add/", {
        "owner": alice.pk, "dataset": beats.pk, "model_name": "from-admin", "tokenizer": "{}",
        "architecture": json.dumps(TINY_ARCHITECTURE), "training": '{"epochs": 2}'})
    assert response.status_code == 302
    job = TrainingJob.objects.get()
    assert (job.config["data"]["input"], job.config["architecture"]["input_conv"]) == ("values", 5)
    assert job.config["architecture"]["hidden_dim"] == 16


@pytest.mark.parametrize("task", ["classification", "tagging"])
def test_manage_py_train_trains_and_registers_a_model_of_series(transactional_db, alice, tmp_path, sent, task):
    dataset = series_dataset(alice, task)
    config = tmp_path / "tiny.json"
    config.write_text(json.dumps({"architecture": TINY_ARCHITECTURE, "training": TINY_TRAINING}))
    out = StringIO()
    call_command("train", str(dataset.pk), "--model", f"beats-{task}", "--config", str(config), "--sync",
                 stdout=out, stderr=StringIO())
    job = TrainingJob.objects.get()
    assert job.status == "succeeded", job.error
    assert sent == []
    assert out.getvalue().splitlines()[-1].startswith(f"job {job.pk} succeeded: beats-{task} version 1")
    version = job.version
    assert version.dataset == dataset
    saved = json.loads((version.folder / "config.json").read_text())
    assert saved["config"]["data"]["input"] == "values"


def test_an_ensemble_of_series_classifiers_trains_registers_and_serves(transactional_db, alice, tmp_path, sent):
    dataset = series_dataset(alice)
    config = tmp_path / "ensemble.json"
    config.write_text(json.dumps({"architecture": TINY_ARCHITECTURE, "training": {**TINY_TRAINING, "ensemble": 2}}))
    out = StringIO()
    call_command("train", str(dataset.pk), "--model", "beats", "--config", str(config), "--sync",
                 stdout=out, stderr=StringIO())
    job = TrainingJob.objects.get()
    assert out.getvalue().splitlines()[3].startswith("epoch 3/4 (member 2): train_loss")
    assert job.status == "succeeded", job.error
    assert job.planned_epochs == 4                                  # two members of two epochs, one after another
    assert [(row["epoch"], row["member"]) for row in job.epochs] == [(1, 1), (2, 1), (3, 2), (4, 2)]
    assert [member["seed"] for member in job.version.info["split"]["members"]] == [13, 14]

    client = APIClient()
    client.force_authenticate(alice)
    frames = [[0.5] * dataset.statistics["splits"]["train"]["features"]] * 6
    response = client.post("/api/models/beats/predict/", {"inputs": [{"values": frames}]}, format="json")
    assert response.status_code == 200, response.json()
    assert sum(response.json()["outputs"][0]["probabilities"].values()) == pytest.approx(1.0, abs=1e-4)
    listed = client.get("/api/models/beats/").json()["versions"][0]      # checked against the schema's DataSplit
    assert [member["best_epoch"] for member in listed["split"]["members"]] in ([1, 1], [1, 2], [2, 1], [2, 2])
