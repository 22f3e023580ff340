"""Tests for the training admin: launch from a form through job_launch, list, per-epoch table, cancel, delete."""
from __future__ import annotations

import json
import re

from apps.training.models import TrainingJob
from apps.training.runs import job_run
from apps.training.services import job_launch
from tests.training.conftest import TINY_ARCHITECTURE, tiny_launch

ADD_URL = "/admin/training/trainingjob/add/"
LIST_URL = "/admin/training/trainingjob/"


def post_add(admin_client, owner, dataset, **fields):
    form = {"owner": owner.pk, "dataset": dataset.pk, "model_name": "from-admin", "tokenizer": "{}",
            "architecture": json.dumps({**TINY_ARCHITECTURE, "char_dim": 0}), "training": '{"epochs": 2}', **fields}
    return admin_client.post(ADD_URL, form)


def test_it_launches_from_the_admin_through_the_service(admin_client, alice, tagging_data, sent,
                                                        django_capture_on_commit_callbacks):
    page = admin_client.get(ADD_URL)
    assert page.status_code == 200
    assert "tiny ud (tagging, alice)" in page.content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        response = post_add(admin_client, alice, tagging_data)
    assert response.status_code == 302
    job = TrainingJob.objects.get()
    assert (job.owner, job.dataset, job.model_name, job.status) == (alice, tagging_data, "from-admin", "queued")
    assert (job.config["architecture"]["hidden_dim"], job.config["training"]["epochs"]) == (16, 2)
    assert sent == [job.pk]


def test_it_shows_what_the_service_refuses_on_the_form(admin_client, alice, tagging_data):
    response = post_add(admin_client, alice, tagging_data, training='{"epochs": 0}')
    assert response.status_code == 200
    html = response.content.decode()
    assert "training.epochs: must be between 1 and 10000, not 0" in html
    assert "errorlist" in html
    not_object = post_add(admin_client, alice, tagging_data, architecture="[1, 2]")
    assert "must be a JSON object" in not_object.content.decode()
    assert not TrainingJob.objects.exists()


def test_it_lists_jobs_with_status_and_progress(admin_client, alice, tagging_data):
    job = job_launch(owner=alice, dataset=tagging_data, model_name="listed", **tiny_launch())
    rows = [{"epoch": 1, "train_loss": 2.123456, "dev_accuracy": 0.4567891, "lr": 0.0029999999999999996}]
    TrainingJob.objects.filter(pk=job.pk).update(status="running", progress=0.5, epochs=rows)
    html = admin_client.get(LIST_URL).content.decode()
    assert "listed" in html and "running" in html
    assert ('running <progress class="rnn-list-progress" max="1" value="0.5" title="1 of 2 epochs"></progress> 50%'
            in html)
    # The last epoch's metrics as columns, 4 significant digits; the learning rate stays on the job's page.
    assert '<th scope="col" class="column-metric_dev_accuracy">' in html
    assert '<span title="0.4567891">0.4568</span>' in html and '<span title="2.123456">2.123</span>' in html
    assert "0.0029999999999999996" not in html


def test_it_shows_the_per_epoch_metrics_of_a_job(transactional_db, admin_client, alice, tagging_data):
    job = job_launch(owner=alice, dataset=tagging_data, model_name="shown", **tiny_launch())
    job_run(job_id=job.pk)
    page = admin_client.get(f"{LIST_URL}{job.pk}/change/")
    html = page.content.decode()
    assert page.status_code == 200
    assert "<th>epoch</th><th>train_loss</th><th>dev_accuracy</th>" in html
    job.refresh_from_db()
    loss = job.epochs[1]["train_loss"]
    assert f'<td><span title="{loss!r}">{loss:.4g}</span></td>' in html      # 4 digits, all of them on hover
    assert "shown version 1" in html
    assert "epoch 2/2: train_loss" in html                          # the log tail
    assert 'name="_save"' not in html                                 # read-only: a worker changes a job


def test_it_cancels_from_the_admin(admin_client, alice, tagging_data):
    queued = job_launch(owner=alice, dataset=tagging_data, model_name="a", **tiny_launch())
    done = job_launch(owner=alice, dataset=tagging_data, model_name="b", **tiny_launch())
    TrainingJob.objects.filter(pk=done.pk).update(status="succeeded")
    response = admin_client.post(LIST_URL, {"action": "cancel_jobs", "_selected_action": [queued.pk, done.pk]},
                                 follow=True)
    html = response.content.decode()
    assert response.status_code == 200
    assert "1 job(s) cancelled" in html
    assert f"Job {done.pk} has finished (succeeded); only a queued or running job can be cancelled" in html
    assert TrainingJob.objects.get(pk=queued.pk).status == "cancelled"
    assert TrainingJob.objects.get(pk=done.pk).status == "succeeded"


def test_it_deletes_a_finished_job_but_not_a_running_one(admin_client, alice, tagging_data):
    job = job_launch(owner=alice, dataset=tagging_data, model_name="a", **tiny_launch())
    TrainingJob.objects.filter(pk=job.pk).update(status="running")
    assert admin_client.get(f"{LIST_URL}{job.pk}/delete/").status_code == 403
    TrainingJob.objects.filter(pk=job.pk).update(status="failed")
    response = admin_client.post(f"{LIST_URL}{job.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302
    assert not TrainingJob.objects.exists()


def test_it_refuses_a_bulk_delete_while_a_running_job_is_selected(admin_client, alice, tagging_data):
    running = job_launch(owner=alice, dataset=tagging_data, model_name="a", **tiny_launch())
    failed = job_launch(owner=alice, dataset=tagging_data, model_name="b", **tiny_launch())
    TrainingJob.objects.filter(pk=running.pk).update(status="running")
    TrainingJob.objects.filter(pk=failed.pk).update(status="failed")
    both = {"action": "delete_selected", "_selected_action": [running.pk, failed.pk]}
    confirm = admin_client.post(LIST_URL, both)
    assert "<title>Cannot delete training jobs" in confirm.content.decode()
    assert admin_client.post(LIST_URL, {**both, "post": "yes"}).status_code == 403
    assert TrainingJob.objects.count() == 2
    response = admin_client.post(LIST_URL, {"action": "delete_selected", "_selected_action": [failed.pk],
                                            "post": "yes"})
    assert response.status_code == 302
    assert list(TrainingJob.objects.values_list("pk", flat=True)) == [running.pk]


def curves_of(html: str) -> dict:
    found = re.search(r'<script id="curves" type="application/json">(.*?)</script>', html, re.S)
    assert found, "no <script id=curves> in the page"
    return json.loads(found.group(1))


def test_it_carries_the_curves_of_a_job_as_json_for_its_charts(transactional_db, admin_client, alice,
                                                               tagging_data):
    job = job_launch(owner=alice, dataset=tagging_data, model_name="curves", **tiny_launch(epochs=3))
    job_run(job_id=job.pk)
    job.refresh_from_db()
    html = admin_client.get(f"{LIST_URL}{job.pk}/change/").content.decode()
    curves = curves_of(html)
    assert curves["epochs"] == [1, 2, 3] and curves["status"] == "succeeded"
    assert list(curves["series"]) == ["train_loss", "dev_accuracy", "dev_macro_f1", "lr"]
    assert curves["series"]["train_loss"] == [row["train_loss"] for row in job.epochs]
    assert curves["stopped_early_at"] is None and "stopped early" not in html
    assert f'data-poll-url="/api/training-jobs/{job.pk}/"' in html
    assert "vendor/chartjs/chart.umd.min.js" in html and "rnnservice/charts.js" in html
    assert 'id="cancel-job"' not in html                          # a finished job has nothing to cancel


def test_it_says_when_early_stopping_ended_a_job(admin_client, alice, tagging_data):
    job = job_launch(owner=alice, dataset=tagging_data, model_name="early", **tiny_launch(epochs=10))
    rows = [{"epoch": epoch, "train_loss": 1.0 / epoch, "dev_accuracy": 0.5, "lr": 0.001} for epoch in (1, 2, 3)]
    TrainingJob.objects.filter(pk=job.pk).update(status="succeeded", progress=1.0, epochs=rows)
    html = admin_client.get(f"{LIST_URL}{job.pk}/change/").content.decode()
    assert "stopped early at epoch 3" in html
    assert curves_of(html)["stopped_early_at"] == 3


def test_it_cancels_a_job_from_its_page(admin_client, alice, tagging_data):
    job = job_launch(owner=alice, dataset=tagging_data, model_name="a", **tiny_launch())
    page = admin_client.get(f"{LIST_URL}{job.pk}/change/").content.decode()
    assert f'formaction="{LIST_URL}{job.pk}/cancel/"' in page and 'id="cancel-job"' in page
    assert admin_client.get(f"{LIST_URL}{job.pk}/cancel/").status_code == 405
    response = admin_client.post(f"{LIST_URL}{job.pk}/cancel/", follow=True)
    assert response.redirect_chain == [(f"{LIST_URL}{job.pk}/change/", 302)]
    assert "1 job(s) cancelled" in response.content.decode()
    assert TrainingJob.objects.get(pk=job.pk).status == "cancelled"
    again = admin_client.post(f"{LIST_URL}{job.pk}/cancel/", follow=True)
    assert f"Job {job.pk} has finished (cancelled)" in again.content.decode()


def test_it_compares_selected_jobs_side_by_side(admin_client, alice, tagging_data):
    first = job_launch(owner=alice, dataset=tagging_data, model_name="a", **tiny_launch())
    second = job_launch(owner=alice, dataset=tagging_data, model_name="b", **tiny_launch(epochs=3))
    rows = [{"epoch": 1, "train_loss": 1.5, "dev_accuracy": 0.5, "lr": 0.001}]
    TrainingJob.objects.filter(pk__in=[first.pk, second.pk]).update(epochs=rows)
    response = admin_client.post(LIST_URL, {"action": "compare_jobs", "_selected_action": [second.pk, first.pk]})
    assert response.status_code == 302
    assert response["Location"] == f"{LIST_URL}compare/?ids={first.pk}%2C{second.pk}"
    html = admin_client.get(response["Location"]).content.decode()
    curves = curves_of(html)
    assert [run["label"] for run in curves["runs"]] == [f"job {first.pk}: a", f"job {second.pk}: b"]
    assert curves["runs"][0]["series"]["dev_accuracy"] == [0.5]
    assert '<th class="rnn-differs">training.epochs</th>' in html              # 2 against 3: marked
    assert '<td class="rnn-differs">2</td><td class="rnn-differs">3</td>' in html
    assert "<th>architecture.cell</th>" in html                                # the same: not marked
    one = admin_client.post(LIST_URL, {"action": "compare_jobs", "_selected_action": [first.pk]}, follow=True)
    assert "Select 2 to 8 to compare, not 1." in one.content.decode()
    assert admin_client.get(f"{LIST_URL}compare/?ids={first.pk},999").status_code == 404
    assert admin_client.get(f"{LIST_URL}compare/?ids=x").status_code == 404


def errors_of(html: str) -> dict[str, list[str]]:
    """{field: [messages]} of the form's error lists (the admin writes id="id_<field>_error")."""
    found = re.findall(r'<ul class="errorlist" id="id_(\w+?)_error">(.*?)</ul>', html, re.S)
    return {field: re.findall(r"<li>(.*?)</li>", items) for field, items in found}


def test_it_offers_the_configs_common_fields_with_each_tasks_defaults(admin_client):
    html = admin_client.get(ADD_URL).content.decode()
    assert 'name="architecture__cell"' in html and '<option value="gru">gru</option>' in html
    assert "default: tagging 15, classification 10, translation 12" in html          # training.epochs, from DEFAULTS
    assert 'name="training__lr"' in html and 'name="architecture__bidirectional"' in html
    assert 'name="training__epochs" min="1" max="10000"' in html                    # config.RANGES
    assert 'name="training"' in html                                                 # the full JSON is still there


def test_it_launches_with_the_common_fields_over_the_json(admin_client, alice, tagging_data):
    response = post_add(admin_client, alice, tagging_data, training='{"epochs": 5, "weight_decay": 0}',
                        training__epochs="3", architecture__cell="gru", architecture__bidirectional="false")
    assert response.status_code == 302, errors_of(response.content.decode())
    config = TrainingJob.objects.get().config
    assert (config["training"]["epochs"], config["training"]["weight_decay"]) == (3, 0.0)
    assert (config["architecture"]["cell"], config["architecture"]["bidirectional"]) == ("gru", False)


def test_it_shows_an_error_only_under_the_field_at_fault(admin_client, alice, tagging_data):
    # The browser's own checks are off in the admin (novalidate): what the server answers is what counts.
    at_field = post_add(admin_client, alice, tagging_data, training__patience="0")
    assert errors_of(at_field.content.decode()) == {"training__patience": ["Ensure this value is greater than or "
                                                                             "equal to 1."]}
    refused = post_add(admin_client, alice, tagging_data, training__lr="20")
    assert errors_of(refused.content.decode()) == {"training__lr": ["Ensure this value is less than or equal to "
                                                                    "10.0."]}
    in_json = post_add(admin_client, alice, tagging_data, training='{"lr": 20}')
    assert errors_of(in_json.content.decode()) == {"training": ["training.lr: must be between 1e-07 and 10.0, "
                                                                "not 20.0"]}
    html = post_add(admin_client, alice, tagging_data, model_name="no spaces allowed").content.decode()
    assert list(errors_of(html)) == ["model_name"]
    assert "This field cannot be null" not in html and "cannot be blank" not in html
    assert 'value="no spaces allowed"' in html                                      # what was typed stays
    assert not TrainingJob.objects.exists()
