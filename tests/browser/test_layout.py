"""The admin's pages at 1280 px in the dark theme: the lists fit without a sideways scroll, and the charts take
the theme's colours."""
from __future__ import annotations

from selenium.webdriver.common.by import By

from apps.training.models import TrainingJob
from tests.browser.conftest import wait
from tests.browser.test_versions import trained_by_a_job

FITS = "const r = document.querySelector('#changelist .results'); return [r.scrollWidth, r.clientWidth]"


def test_it_fits_1280_px_and_draws_in_the_dark_themes_colours(logged_in, live_server, admin_user, make_version):
    browser = logged_in
    version = make_version(admin_user, metrics={"accuracy": 0.123456789, "macro_f1": 0.5, "loss": 1.25})
    trained_by_a_job(version, admin_user, [1.2, 0.9, 0.8])
    job = TrainingJob.objects.get()
    assert browser.execute_script("return window.innerWidth") <= 1280
    browser.execute_script("localStorage.setItem('theme', 'dark')")       # the admin's theme switch keeps it here
    for page in ("training/trainingjob", "registry/modelversion", "datasets/dataset"):
        browser.get(f"{live_server.url}/admin/{page}/")
        scroll, width = browser.execute_script(FITS)
        assert scroll <= width, f"{page}: the list is {scroll} px wide in {width} px"

    browser.get(f"{live_server.url}/admin/training/trainingjob/{job.pk}/change/")
    wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, ".rnn-chart canvas"), "the job's charts")
    assert browser.execute_script("return document.documentElement.dataset.theme") == "dark"
    text, quiet = browser.execute_script("return [Chart.defaults.color, getComputedStyle(document.documentElement)"
                                         ".getPropertyValue('--body-quiet-color').trim()]")
    assert text == quiet and text.lower() not in ("#666", "#666666")          # the dark theme's, not Chart.js's
