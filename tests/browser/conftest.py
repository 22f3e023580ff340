"""Fixtures for the browser tests: headless Chromium driven by Selenium against pytest-django's live server, a
logged-in admin, and a screenshot of each test's last page in its temporary folder."""
from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import WebDriverWait

from tests.factories import UserFactory
from tests.training.test_worker import start_worker  # noqa: F401  (a fixture: a real Celery worker)

# Debian's packages (.ci/run installs them). Missing ones fail the tests: a silent skip would hide the UI's tests.
CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
WAIT = 30                # seconds for anything the page does by itself (a chart's next point); the machine is busy
PASSWORD = "password"      # tests/factories.py's UserFactory
# No network beyond the live server: no updates, sync or QUIC probes that would wait on a host it cannot reach.
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage", "--window-size=1280,1000")


@pytest.fixture
def browser(tmp_path) -> Iterator[WebDriver]:
    """Headless Chromium 1280 px wide, with a profile of its own; its last page saved as screenshot.png."""
    for binary in (CHROMIUM, CHROMEDRIVER):
        if not Path(binary).exists():
            pytest.fail(f"{binary} is missing: apt-get install chromium chromium-driver (.ci/run does)")
    profile = tempfile.mkdtemp(prefix="rnnservice-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (*FLAGS, f"--user-data-dir={profile}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))
    try:
        yield driver
    finally:
        try:
            driver.save_screenshot(str(tmp_path / "screenshot.png"))
        finally:
            driver.quit()
            shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture
def admin_user(transactional_db):
    return UserFactory(username="ada", is_staff=True, is_superuser=True)


@pytest.fixture
def logged_in(browser, live_server, admin_user) -> WebDriver:
    """The browser, logged in to the admin as a superuser through the login form."""
    browser.get(f"{live_server.url}/admin/login/")
    browser.find_element(By.NAME, "username").send_keys(admin_user.username)
    browser.find_element(By.NAME, "password").send_keys(PASSWORD)
    browser.find_element(By.CSS_SELECTOR, "input[type=submit]").click()
    wait(browser, lambda d: d.find_elements(By.ID, "user-tools"), "the admin's index after logging in")
    return browser


def wait(browser: WebDriver, condition: Callable[[WebDriver], object], what: str, timeout: float = WAIT):
    """condition's first true value, or a failure that names what did not happen and the page's text."""
    try:
        return WebDriverWait(browser, timeout, poll_frequency=0.2).until(condition)
    except Exception as exc:          # TimeoutException, or the condition's own error
        body = browser.find_element(By.TAG_NAME, "body").text[:3000]
        pytest.fail(f"waited {timeout} s for {what}: {exc!r}\n--- page {browser.current_url}\n{body}")
