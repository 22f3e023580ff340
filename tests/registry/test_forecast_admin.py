"""A forecaster's version page: the try-it panel starts from the last window of the version's dataset, as JSON,
and carries what happened next for the chart of the forecast against it."""
from __future__ import annotations

import json
import re

from django.core.files.uploadedfile import SimpleUploadedFile

from apps.datasets.services import dataset_create, dataset_validate
from tests.trained import forecast_csv


def page(admin_client, version) -> str:
    return admin_client.get(f"/admin/registry/modelversion/{version.pk}/change/").content.decode()


def test_the_panel_starts_from_the_last_window_of_the_dataset_and_knows_what_happened(admin_client, alice,
                                                                                     make_forecaster):
    dataset = dataset_create(owner=alice, name="waves", task="forecasting", queue_validation=False,
                             train=SimpleUploadedFile("train.csv", forecast_csv(160).encode()),
                             test=SimpleUploadedFile("test.csv", forecast_csv(40).encode()))
    dataset = dataset_validate(dataset_id=dataset.pk)
    html = page(admin_client, make_forecaster(alice, dataset=dataset))
    assert 'name="kind" value="json" checked' in html and "vendor/chartjs/chart.umd.min.js" in html
    example = json.loads(re.search(r'<textarea id="try-it-input"[^>]*>(.*?)</textarea>', html, re.S).group(1)
                         .replace("&quot;", '"'))
    assert len(example["values"]) == 12 and len(example["values"][0]) == 3      # the look-back, every column
    known = json.loads(re.search(r'<script id="try-it-forecast" type="application/json">(.*?)</script>',
                                 html).group(1))
    assert (known["columns"], known["targets"]) == (["load", "temp", "hour"], ["load", "temp"])
    assert len(known["actual"]) == 4 and len(known["actual"][0]) == 2            # the horizon, the targets
    last_test_row = forecast_csv(40).splitlines()[-1].split(",")
    assert known["actual"][-1][0] == float(last_test_row[1])                     # the test file's last rows


def test_without_a_dataset_the_panel_starts_empty(admin_client, alice, make_forecaster):
    html = page(admin_client, make_forecaster(alice))
    assert 'id="try-it"' in html and "try-it-forecast" not in html
