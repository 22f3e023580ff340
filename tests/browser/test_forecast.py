"""A forecaster's version page in a real browser: try-it sends the dataset's last window to the REST API and draws
the forecast against what happened, one Chart.js chart per target column."""
from __future__ import annotations

from django.core.files.uploadedfile import SimpleUploadedFile
from selenium.webdriver.common.by import By

from apps.datasets.services import dataset_create, dataset_validate
from tests.browser.conftest import wait
from tests.trained import forecast_csv


def test_it_charts_a_forecast_against_what_happened(logged_in, live_server, admin_user, make_forecaster, tmp_path):
    dataset = dataset_create(owner=admin_user, name="waves", task="forecasting", queue_validation=False,
                             train=SimpleUploadedFile("train.csv", forecast_csv().encode()))
    version = make_forecaster(admin_user, dataset=dataset_validate(dataset_id=dataset.pk))
    browser = logged_in
    browser.get(f"{live_server.url}/admin/registry/modelversion/{version.pk}/change/")
    browser.find_element(By.CSS_SELECTOR, "#try-it input[type=submit]").click()
    charts = wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, ".rnn-forecast canvas"), "the forecast charts")
    assert [c.get_attribute("aria-label") for c in charts] == ["forecast of load", "forecast of temp"]
    # Chart.js drew three lines in each: the history, the forecast and what happened.
    lines = browser.execute_script("return [...document.querySelectorAll('.rnn-forecast canvas')]"
                                   ".map((c) => Chart.getChart(c).data.datasets.map((s) => s.label))")
    assert lines == [["history", "forecast", "what happened"]] * 2
    browser.execute_script("document.getElementById('try-it-answer').scrollIntoView({block: 'end'})")
    browser.save_screenshot(str(tmp_path / "forecast.png"))
