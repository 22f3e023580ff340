"""Tests for /api/training-jobs/: launch, detail with per-epoch metrics, cancel, delete, and who sees what."""
from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from apps.datasets.models import Dataset
from apps.training.models import TrainingJob
from apps.training.runs import job_run
from apps.training.services import job_launch
from tests.factories import DatasetFactory
from tests.training.conftest import tiny_launch, valid_dataset

URL = "/api/training-jobs/"


def body(dataset: Dataset, model_name: str = "tiny-upos", **changes) -> dict:
    return {"dataset": dataset.pk, "model_name": model_name, **tiny_launch(dataset.task), **changes}


@pytest.fixture
def alices_job(alice, tagging_data) -> TrainingJob:
    return job_launch(owner=alice, dataset=tagging_data, model_name="alices", **tiny_launch())


def test_it_launches_a_job(api, alice, tagging_data, sent, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = api.post(URL, body(tagging_data), format="json")
    assert response.status_code == 201, response.data
    job = TrainingJob.objects.get()
    assert sent == [job.pk]
    assert (job.owner, job.dataset, job.model_name, job.status) == (alice, tagging_data, "tiny-upos", "queued")
    assert response.data["id"] == job.pk
    assert {key: response.data[key] for key in ("owner", "dataset", "model_name", "status", "progress", "epochs",
                                                "version", "attempts")} == {
        "owner": "alice", "dataset": tagging_data.pk, "model_name": "tiny-upos", "status": "queued", "progress": 0.0,
        "epochs": [], "version": None, "attempts": 0}
    assert response.data["config"]["architecture"]["hidden_dim"] == 16
    assert response.data["config"]["training"]["epochs"] == 2


def test_it_launches_with_the_tasks_defaults_when_no_config_is_given(api, tagging_data):
    response = api.post(URL, {"dataset": tagging_data.pk, "model_name": "defaults"}, format="json")
    assert response.status_code == 201, response.data
    assert TrainingJob.objects.get().config["architecture"]["hidden_dim"] == 256


@pytest.mark.parametrize(("changes", "detail", "field"), [
    ({"training": {"epochs": 0}}, "training.epochs: must be between 1 and 10000, not 0", "training.epochs"),
    ({"architecture": {"cell": "lstmm"}},
     "architecture.cell: must be one of ['rnn', 'lstm', 'gru', 'peephole_lstm', 'jordan', 'ctrnn'], not 'lstmm'",
     "architecture.cell"),
    ({"training": {"speed": 11}}, "training.speed: unknown field; choose from ", "training.speed"),
    ({"model_name": "a/b"}, "model name 'a/b' is not valid", "model_name"),
])
def test_it_answers_400_naming_the_bad_field(api, tagging_data, changes, detail, field):
    response = api.post(URL, body(tagging_data, **changes), format="json")
    assert response.status_code == 400
    assert response.data["detail"].startswith(detail)
    assert response.data["field"] == field
    assert not TrainingJob.objects.exists()


@pytest.mark.parametrize(("payload", "field", "message"), [
    ({"epochs": 3}, "epochs",
     "unknown field; the fields are dataset, model_name, tokenizer, architecture, training, data"),
    ({"training": [1, 2]}, "training", 'Expected a dictionary of items but got type "list".'),
    ({"model_name": ""}, "model_name", "This field may not be blank."),
])
def test_it_answers_400_for_a_malformed_request(api, tagging_data, payload, field, message):
    response = api.post(URL, {"dataset": tagging_data.pk, "model_name": "x", **payload}, format="json")
    assert response.status_code == 400
    assert response.data == {"detail": f"{field}: {message}", "field": field}
    assert not TrainingJob.objects.exists()


def test_it_answers_400_for_a_missing_dataset_and_name(api):
    response = api.post(URL, {}, format="json")
    assert response.status_code == 400
    assert response.data == {
        "detail": "dataset: This field is required (and 1 more: see errors).", "field": "dataset",
        "errors": [{"detail": "dataset: This field is required.", "field": "dataset"},
                   {"detail": "model_name: This field is required.", "field": "model_name"}]}


def test_it_answers_400_for_a_dataset_that_is_not_valid(api, alice):
    pending = DatasetFactory(owner=alice, name="unchecked")
    response = api.post(URL, body(pending), format="json")
    assert response.status_code == 400
    assert response.data == {"detail": "dataset 'unchecked' is pending; only a valid dataset can be trained on",
                             "field": "dataset"}
    assert not TrainingJob.objects.exists()


def test_it_answers_for_another_users_dataset_as_for_one_that_does_not_exist(api, bob):
    bobs = valid_dataset(bob, name="bobs")
    response = api.post(URL, body(bobs), format="json")
    assert response.status_code == 400
    assert response.data == {"detail": f"dataset: no dataset with id {bobs.pk}", "field": "dataset"}
    missing = api.post(URL, {**body(bobs), "dataset": bobs.pk + 1000}, format="json")
    assert missing.data == {"detail": f"dataset: no dataset with id {bobs.pk + 1000}", "field": "dataset"}
    assert not TrainingJob.objects.exists()


def test_it_lets_staff_launch_on_anyones_dataset(api_as, staff, bob):
    response = api_as(staff).post(URL, body(valid_dataset(bob, name="bobs")), format="json")
    assert response.status_code == 201
    assert TrainingJob.objects.get().owner == staff


def test_it_shows_progress_per_epoch_metrics_and_the_version(transactional_db, api, alices_job):
    job_run(job_id=alices_job.pk)
    response = api.get(f"{URL}{alices_job.pk}/")
    assert response.status_code == 200
    data = response.data
    assert (data["status"], data["progress"], data["attempts"], data["device"]) == ("succeeded", 1.0, 1, "cpu")
    assert data["version"] == {"model": "alices", "number": 1}
    assert [row["epoch"] for row in data["epochs"]] == [1, 2]
    assert {"train_loss", "dev_accuracy", "tokens_per_s", "seconds", "is_best", "attempt"} <= set(data["epochs"][0])
    assert "epoch 2/2" in data["log_tail"]
    listed = api.get(URL).data["results"]
    assert [(row["id"], row["status"], row["version"]) for row in listed] == [
        (alices_job.pk, "succeeded", {"model": "alices", "number": 1})]
    assert "epochs" not in listed[0]            # the list stays light; the detail has the metrics


def test_it_shows_each_user_only_their_own_jobs(api_as, alice, bob, charlie, staff, alices_job):
    for user, status in ((alice, 200), (bob, 404), (charlie, 404), (staff, 200)):
        client = api_as(user)
        assert client.get(f"{URL}{alices_job.pk}/").status_code == status
        listed = [row["id"] for row in client.get(URL).data["results"]]
        assert listed == ([alices_job.pk] if status == 200 else [])
    assert APIClient().get(f"{URL}{alices_job.pk}/").status_code == 401
    assert APIClient().get(URL).status_code == 401


def test_it_hides_a_job_from_others_who_cancel_or_delete_it(api_as, bob, charlie, alices_job):
    for user in (bob, charlie):
        assert api_as(user).post(f"{URL}{alices_job.pk}/cancel/").status_code == 404
        assert api_as(user).delete(f"{URL}{alices_job.pk}/").status_code == 404
    assert APIClient().post(f"{URL}{alices_job.pk}/cancel/").status_code == 401
    alices_job.refresh_from_db()
    assert (alices_job.status, alices_job.cancel_requested) == ("queued", False)


def test_it_cancels_a_queued_job_at_once_and_a_running_one_at_its_next_epoch(api, alice, tagging_data, alices_job):
    response = api.post(f"{URL}{alices_job.pk}/cancel/")
    assert response.status_code == 200
    assert (response.data["status"], response.data["cancel_requested"]) == ("cancelled", True)
    assert TrainingJob.objects.get(pk=alices_job.pk).status == "cancelled"

    again = api.post(f"{URL}{alices_job.pk}/cancel/")
    assert again.status_code == 409                      # well-formed, refused by the job's state
    assert again.data == {"detail": f"job {alices_job.pk} has finished (cancelled); only a queued or running "
                                    "job can be cancelled", "field": "status"}

    running = job_launch(owner=alice, dataset=tagging_data, model_name="alices", **tiny_launch())
    TrainingJob.objects.filter(pk=running.pk).update(status="running", attempts=1)
    response = api.post(f"{URL}{running.pk}/cancel/")
    assert response.status_code == 200
    assert (response.data["status"], response.data["cancel_requested"]) == ("running", True)
    assert TrainingJob.objects.get(pk=running.pk).cancel_requested


def test_it_lets_staff_cancel_anyones_job(api_as, staff, alices_job):
    assert api_as(staff).post(f"{URL}{alices_job.pk}/cancel/").status_code == 200
    assert TrainingJob.objects.get(pk=alices_job.pk).status == "cancelled"


def test_it_deletes_a_finished_job_but_not_a_running_one(api, alices_job):
    refused = api.delete(f"{URL}{alices_job.pk}/")
    assert refused.status_code == 400
    assert refused.data["detail"] == f"job {alices_job.pk} is queued; cancel it before deleting it"
    assert TrainingJob.objects.filter(pk=alices_job.pk).exists()
    api.post(f"{URL}{alices_job.pk}/cancel/")
    assert api.delete(f"{URL}{alices_job.pk}/").status_code == 204
    assert not TrainingJob.objects.exists()


def test_it_keeps_a_dataset_a_job_used_until_the_job_is_deleted(api, tagging_data, alices_job,
                                                               django_capture_on_commit_callbacks):
    refused = api.delete(f"/api/datasets/{tagging_data.pk}/")
    assert refused.status_code == 409
    assert refused.data == {"detail": "it is still used by 1 training job; delete those first"}
    assert Dataset.objects.filter(pk=tagging_data.pk).exists()
    assert api.post(f"{URL}{alices_job.pk}/cancel/").status_code == 200
    assert api.delete(f"{URL}{alices_job.pk}/").status_code == 204
    with django_capture_on_commit_callbacks(execute=True):
        assert api.delete(f"/api/datasets/{tagging_data.pk}/").status_code == 204
    assert not Dataset.objects.exists()


def test_it_documents_the_endpoints_in_the_schema(client, db):
    schema = client.get("/api/schema/", {"format": "json"}).json()
    paths = schema["paths"]
    assert {"TrainingJobStatusEnum", "DatasetStatusEnum"} <= set(schema["components"]["schemas"])
    assert {"get", "post"} <= set(paths["/api/training-jobs/"])
    assert {"get", "delete"} <= set(paths["/api/training-jobs/{id}/"])
    assert "post" in paths["/api/training-jobs/{id}/cancel/"]
