"""A training job in a real browser: launched from the admin's form, trained by a real Celery worker, its charts
gaining points while it runs (the page polls the API, no reload), then cancelled with the page's button."""
from __future__ import annotations

from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select

from apps.training.models import TrainingJob
from tests.browser.conftest import wait
from tests.factories import DatasetFactory
from tests.training.test_worker import logs, purge_training_queue, synthetic_dataset

POINTS = "return Chart.getChart(document.querySelector('canvas[aria-label=train_loss]'))?.data.labels.length ?? 0"


def test_it_launches_a_job_and_watches_its_curves_grow_until_cancelled(logged_in, live_server, admin_user,
                                                                       start_worker, settings, tmp_path):
    browser = logged_in
    purge_training_queue(settings.CELERY_BROKER_URL, getattr(settings, "CELERY_BROKER_TRANSPORT_OPTIONS", {}))
    synthetic_dataset(admin_user, tmp_path, sentences=1500)        # about 0.3 s an epoch
    worker = start_worker("trainer")

    browser.get(f"{live_server.url}/admin/training/trainingjob/add/")
    Select(browser.find_element(By.NAME, "dataset")).select_by_visible_text(f"synthetic (tagging, {admin_user})")
    browser.find_element(By.NAME, "model_name").send_keys("watched")
    fill(browser, architecture__embed_dim=8, architecture__hidden_dim=16, architecture__num_layers=1,
         training__epochs=500, training__batch_size=16, training__patience=1000)
    Select(browser.find_element(By.NAME, "architecture__cell")).select_by_value("gru")
    browser.find_element(By.CSS_SELECTOR, "fieldset.collapse summary").click()      # the full JSON, for the rest
    fill(browser, architecture='{"char_dim": 0}')
    browser.save_screenshot(str(tmp_path / "launch.png"))
    browser.find_element(By.NAME, "_save").click()
    wait(browser, lambda d: "was added successfully" in d.page_source, "the job to be launched")
    job = TrainingJob.objects.get()
    browser.get(f"{live_server.url}/admin/training/trainingjob/{job.pk}/change/")

    status = browser.find_element(By.CSS_SELECTOR, '.rnn-status [data-field="status"]')
    wait(browser, lambda d: d.execute_script(POINTS) >= 2, f"two points on the chart\n{logs(tmp_path)}", timeout=60)
    seen = browser.execute_script(POINTS)
    assert worker.poll() is None
    wait(browser, lambda d: d.execute_script(POINTS) > seen, "the chart to gain a point without a reload")
    assert status.text == "running"                                  # the same element: the page was not reloaded
    names = browser.execute_script("return [...document.querySelectorAll('.rnn-chart canvas')]"
                                   ".map(c => c.getAttribute('aria-label'))")
    assert names == ["train_loss", "dev_accuracy", "dev_macro_f1", "lr"]
    browser.save_screenshot(str(tmp_path / "running.png"))

    browser.find_element(By.ID, "cancel-job").click()
    wait(browser, lambda d: "cancelled" in d.find_element(By.CSS_SELECTOR, ".messagelist").text,
         "the cancel to be confirmed")
    wait(browser, lambda d: d.find_element(By.CSS_SELECTOR, '.rnn-status [data-field="status"]').text == "cancelled",
         "the job to stop at the end of its epoch", timeout=60)
    job.refresh_from_db()
    assert job.status == "cancelled" and 2 <= len(job.epochs) < 500
    assert (job.config["architecture"]["cell"], job.config["architecture"]["char_dim"]) == ("gru", 0)


def fill(browser, **fields) -> None:
    for name, value in fields.items():
        field = browser.find_element(By.NAME, name)
        field.clear()
        field.send_keys(str(value))


def test_a_job_page_says_why_training_stopped_early_and_what_to_watch(logged_in, live_server, admin_user):
    browser = logged_in
    rows = [{"epoch": n, "train_loss": 1.0 / n, "dev_accuracy": 0.5, "is_best": n == 3} for n in range(1, 8)]
    job = TrainingJob.objects.create(
        owner=admin_user, dataset=DatasetFactory(owner=admin_user), model_name="stopped", status="succeeded",
        progress=1.0, epochs=rows, config={"task": "tagging", "training": {"epochs": 8, "patience": 4, "metric": ""}},
        warnings=["the dev file has 7 examples, fewer than 20: its scores are noisy, and early stopping and the best "
                  "epoch rest on very few examples"])

    browser.get(f"{live_server.url}/admin/training/trainingjob/{job.pk}/change/")

    stopped = browser.find_element(By.CSS_SELECTOR, ".field-stopped_early .readonly").text
    assert stopped == "stopped early at epoch 7 of 8: dev accuracy has not improved for 4 epochs"
    warnings = [item.text for item in browser.find_elements(By.CSS_SELECTOR, ".field-warnings_display li")]
    assert warnings == job.warnings


def test_a_running_ensembles_page_counts_the_epochs_of_all_its_members(logged_in, live_server, admin_user):
    browser = logged_in
    rows = [{"epoch": n, "member": 1 + (n - 1) // 3, "train_loss": 1.0 / n, "dev_accuracy": 0.5, "is_best": False}
            for n in range(1, 5)]
    job = TrainingJob.objects.create(
        owner=admin_user, dataset=DatasetFactory(owner=admin_user), model_name="members", status="running",
        progress=0.5, epochs=rows,
        config={"task": "classification", "training": {"epochs": 3, "ensemble": 2, "patience": 3, "metric": ""}})
    browser.get(f"{live_server.url}/admin/training/trainingjob/{job.pk}/change/")
    progress = browser.find_element(By.CSS_SELECTOR, '.rnn-status [data-field="progress"]')
    assert progress.text == "50% (4 of 6 epochs)"                    # drawn by the server
    TrainingJob.objects.filter(pk=job.pk).update(progress=4 / 6)
    wait(browser, lambda d: progress.text == "67% (4 of 6 epochs)", "the page's poll to count both members' epochs")
