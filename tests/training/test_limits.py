"""Tests for apps/training/limits.py through POST /api/training-jobs/: a model or a step too large for the limits,
a seed or metric that would only fail in the worker, and more jobs at once than a user may have; each refused at
launch with a 400 naming the setting or field, and no job saved."""
from __future__ import annotations

import pytest

from apps.training.models import TrainingJob
from tests.training.conftest import tiny_launch, valid_dataset

URL = "/api/training-jobs/"


def launch(api, dataset, name: str = "tiny", **sections):
    sections = {**tiny_launch(dataset.task), **sections}
    return api.post(URL, {"dataset": dataset.pk, "model_name": name, **sections}, format="json")


def test_it_refuses_a_model_of_billions_of_parameters_naming_the_estimate_and_the_setting(api, tagging_data):
    response = launch(api, tagging_data, architecture={"embed_dim": 4096, "hidden_dim": 8192, "num_layers": 16})
    assert response.status_code == 400, response.data
    body = response.data
    assert (body["limit"], body["maximum"]) == ("TRAINING_MAX_PARAMETERS", 200_000_000)
    assert body["value"] == body["estimate"]["parameters"] > 10**10
    assert f"{body['value']:,}" in body["detail"] and "TRAINING_MAX_PARAMETERS" in body["detail"]
    assert not TrainingJob.objects.exists()


def test_it_refuses_a_step_over_the_memory_limit(api, tagging_data, settings):
    settings.TRAINING_MAX_MEMORY_BYTES = 1_000_000
    response = launch(api, tagging_data, training={"batch_size": 4096, "epochs": 1})
    assert response.status_code == 400, response.data
    assert (response.data["limit"], response.data["field"]) == ("TRAINING_MAX_MEMORY_BYTES", "training")
    assert response.data["value"] == response.data["estimate"]["memory_bytes"] > 1_000_000
    assert not TrainingJob.objects.exists()


def test_it_launches_what_fits(api, tagging_data, settings):
    assert launch(api, tagging_data).status_code == 201


@pytest.mark.parametrize(("training", "field"), [
    ({"seed": 123456789012345678901234567890}, "training.seed"),
    ({"metric": "bleu"}, "training.metric"),
    ({"metric": "entity_f1"}, "training.metric"),            # the tiny data's UPOS tags are not BIO
])
def test_it_refuses_at_launch_what_would_fail_in_the_worker(api, tagging_data, training, field):
    response = launch(api, tagging_data, training={"epochs": 1, **training})
    assert (response.status_code, response.data["field"]) == (400, field), response.data
    assert not TrainingJob.objects.exists()


def test_it_limits_the_jobs_a_user_has_queued_or_running_at_once(api, api_as, alice, bob, tagging_data, settings):
    settings.TRAINING_MAX_JOBS_PER_USER = 2
    assert [launch(api, tagging_data, f"job-{n}").status_code for n in range(2)] == [201, 201]
    refused = launch(api, tagging_data, "job-2")
    assert refused.status_code == 400
    assert (refused.data["limit"], refused.data["value"], refused.data["maximum"]) == (
        "TRAINING_MAX_JOBS_PER_USER", 3, 2)
    assert TrainingJob.objects.filter(owner=alice).count() == 2
    # Another user has a share of their own; a finished job frees one.
    assert launch(api_as(bob), valid_dataset(bob, name="bobs"), "bobs").status_code == 201
    first = TrainingJob.objects.filter(owner=alice).first()
    assert api.post(f"{URL}{first.pk}/cancel/").status_code == 200
    assert launch(api, tagging_data, "job-2").status_code == 201
