"""The API docs in a real browser: Swagger UI and ReDoc load from our own static files and list the operations."""
from __future__ import annotations

from selenium.webdriver.common.by import By

from tests.browser.conftest import wait


def test_it_lists_the_operations_in_swagger_ui_without_a_cdn(browser, live_server, transactional_db):
    browser.get(f"{live_server.url}/api/docs/")
    operations = wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, ".opblock-summary-path"),
                      "Swagger UI to list the operations")
    paths = {operation.text.replace("\u200b", "") for operation in operations}
    assert {"/api/datasets/", "/api/training-jobs/{id}/cancel/", "/api/models/{name}/predict/"} <= paths
    scripts = [s.get_attribute("src") for s in browser.find_elements(By.TAG_NAME, "script") if s.get_attribute("src")]
    assert scripts and all(src.startswith(live_server.url) for src in scripts)


def test_it_lists_the_operations_in_redoc(browser, live_server, transactional_db):
    browser.get(f"{live_server.url}/api/redoc/")
    wait(browser, lambda d: "/api/training-jobs/{id}/cancel/" in d.find_element(By.TAG_NAME, "body").text
         or d.find_elements(By.CSS_SELECTOR, "[data-section-id^='tag/']"), "ReDoc to list the operations")
