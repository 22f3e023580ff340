"""Two machines that share a database and an S3-compatible bucket (moto's server, through boto3) but not their
MODELS_STORE folders: what one trains and registers, the other serves; a changed object in the bucket is refused."""
from __future__ import annotations

import pytest
from django.conf import settings

from apps.datasets.models import Dataset
from apps.training.runs import job_run
from apps.training.services import job_launch
from rnnservice.ml.artifacts import verify_version
from tests.datasets.helpers import run_queued_validations, upload

TINY = {"architecture": {"embed_dim": 8, "hidden_dim": 16, "num_layers": 1},
        "training": {"epochs": 2, "batch_size": 4}}


@pytest.fixture
def machine(settings, tmp_path):
    """machine("a") makes MODELS_STORE the working copy of machine a, empty until something is put there."""
    def switch(name: str):
        settings.MODELS_STORE = tmp_path / f"machine-{name}"
        return settings.MODELS_STORE
    return switch


def test_a_version_trained_on_one_machine_is_served_by_another(api, alice, s3_bucket, machine,
                                                                django_capture_on_commit_callbacks):
    machine("a")
    with django_capture_on_commit_callbacks() as callbacks:
        response = upload(api, name="sst", task="classification",
                          files={"train": "tiny_sst.tsv", "test": "tiny_sst.tsv"})
    assert response.status_code == 201, response.json()
    run_queued_validations(callbacks)                 # reads the uploads back from the bucket
    dataset = Dataset.objects.get(pk=response.json()["id"])
    assert dataset.status == Dataset.Status.VALID, dataset.error
    assert s3_bucket.keys("media/") == [f"media/datasets/{dataset.pk}/{name}" for name in ("test.tsv", "train.tsv")]

    job = job_run(job_id=job_launch(owner=alice, dataset=dataset, model_name="sst", queue=False, **TINY).pk)
    assert job.status == "succeeded", job.error
    assert len(s3_bucket.keys("models/sst/1/")) == 5                # the four files and model.onnx

    store_b = machine("b")
    predicted = api.post("/api/models/sst/predict/", {"inputs": ["a witty , charming movie ."]}, format="json")
    assert predicted.status_code == 200, predicted.json()
    assert (predicted.json()["model"], predicted.json()["version"]) == ("sst", 1)
    assert verify_version(store_b / "sst" / "1") == job.version.sha256
    scored = api.post("/api/models/sst/evaluate/", {"dataset": dataset.pk}, format="json")
    assert (scored.status_code, scored.json()["examples"]) == (200, 4)     # the test file, read from the bucket


def test_a_changed_object_in_the_bucket_answers_503_naming_the_version(api, alice, make_version, s3_bucket, machine):
    make_version(alice, "sentiment")
    s3_bucket.client.put_object(Bucket=s3_bucket.name, Key="models/sentiment/1/manifest.json", Body=b"{}")
    store_b = machine("b")
    response = api.post("/api/models/sentiment/predict/", {"inputs": ["dull ."]}, format="json")
    assert response.status_code == 503
    body = response.json()
    assert (body["model"], body["version"]) == ("sentiment", 1)
    assert "version 1 cannot be used: in the artifact bucket" in body["detail"]
    assert str(settings.MODELS_STORE) not in body["detail"] and not (store_b / "sentiment" / "1").exists()
