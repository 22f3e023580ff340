"""Tests for the datasets admin: upload through dataset_create, read-only views, delete with the files."""
from __future__ import annotations

import json
import re
from pathlib import Path

from apps.datasets.models import Dataset
from apps.datasets.services import dataset_validate
from tests.datasets.helpers import run_queued_validations
from tests.factories import DATA, DatasetFactory

ADD_URL = "/admin/datasets/dataset/add/"


def post_add(admin_client, **fields):
    with (DATA / "tiny.conllu").open("rb") as train:
        return admin_client.post(ADD_URL, {"name": "ud tiny", "task": "tagging", "format": "", "train": train,
                                           **fields})


def test_it_uploads_from_the_admin_through_the_service(admin_client, alice, django_capture_on_commit_callbacks):
    assert admin_client.get(ADD_URL).status_code == 200
    with django_capture_on_commit_callbacks() as callbacks:
        response = post_add(admin_client, owner=alice.pk)
    assert response.status_code == 302
    dataset = Dataset.objects.get(name="ud tiny")
    assert (dataset.owner, dataset.status, dataset.format) == (alice, "pending", None)
    assert Path(dataset.train.name).as_posix() == f"datasets/{dataset.pk}/train.conllu"
    assert set(dataset.sha256) == {"train"}
    assert run_queued_validations(callbacks) == [dataset.pk]
    assert Dataset.objects.get(pk=dataset.pk).status == "valid"


def test_it_shows_what_the_service_refuses_on_the_form(admin_client, alice):
    DatasetFactory(owner=alice, name="ud tiny")
    response = post_add(admin_client, owner=alice.pk)
    assert response.status_code == 200
    assert "you already have a dataset named" in response.content.decode().replace("&#x27;", "'")
    assert Dataset.objects.count() == 1


def test_an_upload_over_the_limit_is_stopped_with_a_400_not_a_500(admin_client, alice, settings):
    settings.RNNSERVICE_MAX_UPLOAD_BYTES = 100                      # tiny.conllu is larger: stopped as it arrives
    response = post_add(admin_client, owner=alice.pk)
    assert response.status_code == 400
    assert not Dataset.objects.exists()


def test_it_lists_and_shows_datasets_read_only(admin_client, alice):
    dataset = DatasetFactory(owner=alice, name="shown")
    dataset_validate(dataset_id=dataset.pk)
    listing = admin_client.get("/admin/datasets/dataset/")
    assert listing.status_code == 200
    assert "shown" in listing.content.decode()
    page = admin_client.get(f"/admin/datasets/dataset/{dataset.pk}/change/")
    html = page.content.decode()
    assert page.status_code == 200
    assert dataset.sha256["train"] in html
    assert "&quot;examples&quot;: 2" in html
    assert 'type="file"' not in html and 'name="_save"' not in html
    assert Dataset.objects.get(pk=dataset.pk).status == "valid"


def test_it_deletes_from_the_admin_with_the_files(admin_client, alice, django_capture_on_commit_callbacks):
    dataset = DatasetFactory(owner=alice)
    stored = Path(dataset.train.path)
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(f"/admin/datasets/dataset/{dataset.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302
    assert not Dataset.objects.exists()
    assert not stored.exists()


def test_it_lists_example_counts_and_the_first_error(admin_client, alice):
    valid = dataset_validate(dataset_id=DatasetFactory(owner=alice, name="counted").pk)
    DatasetFactory(owner=alice, name="broken", status="invalid", error="tag column missing\nsecond line",
                   error_file="train.conllu", error_line=12)
    html = admin_client.get("/admin/datasets/dataset/").content.decode()
    examples = valid.statistics["splits"]["train"]["examples"]
    assert f"train {examples:,}" in html
    assert 'title="train.conllu, line 12: tag column missing' in html
    assert ">train.conllu, line 12: tag column missing<" in html     # the first line only


def test_it_draws_label_counts_and_a_length_histogram(admin_client, alice):
    dataset = dataset_validate(dataset_id=DatasetFactory(owner=alice, name="charted").pk)
    html = admin_client.get(f"/admin/datasets/dataset/{dataset.pk}/change/").content.decode()
    found = re.search(r'<script id="dataset-charts" type="application/json">(.*?)</script>', html, re.S)
    charts = {chart["title"]: chart for chart in json.loads(found.group(1))["charts"]}
    train = dataset.statistics["splits"]["train"]
    assert charts["train: labels"]["labels"] == list(train["labels"])
    assert charts["train: labels"]["values"] == list(train["labels"].values())
    assert sum(charts["train: length"]["values"]) == train["examples"]
    assert "vendor/chartjs/chart.umd.min.js" in html


def test_it_shows_an_error_only_under_the_field_at_fault(admin_client, alice):
    DatasetFactory(owner=alice, name="ud tiny")
    html = post_add(admin_client, owner=alice.pk).content.decode()
    errors = re.findall(r'<ul class="errorlist" id="id_(\w+?)_error">', html)
    assert errors == ["name"]                                        # not owner, task or train, which were filled
    assert "This field cannot be null" not in html and "cannot be blank" not in html
    with (DATA / "tiny.en").open("rb") as train_target:
        target = post_add(admin_client, owner=alice.pk, name="other", train_target=train_target)
    assert re.findall(r'<ul class="errorlist" id="id_(\w+?)_error">', target.content.decode()) == ["train_target"]
