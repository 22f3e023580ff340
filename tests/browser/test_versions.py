"""Model versions in a real browser: try-it on a version's page answers through the REST API."""
from __future__ import annotations

import json

from selenium.webdriver.common.by import By

from tests.browser.conftest import wait


def answer(browser) -> str:
    return wait(browser, lambda d: d.find_element(By.ID, "try-it-answer").text.strip() not in ("", "…")
                and d.find_element(By.ID, "try-it-answer").text, "the try-it answer")


def predict(browser, text: str, kind: str = "lines", **options: int) -> str:
    form = browser.find_element(By.ID, "try-it")
    box = form.find_element(By.NAME, "input")
    box.clear()
    box.send_keys(text)
    form.find_element(By.CSS_SELECTOR, f'input[name="kind"][value="{kind}"]').click()
    for name, value in options.items():
        field = form.find_element(By.NAME, name)
        field.clear()
        field.send_keys(str(value))
    browser.execute_script("document.getElementById('try-it-answer').replaceChildren()")
    form.find_element(By.CSS_SELECTOR, "input[type=submit]").click()
    return answer(browser)


def test_it_tries_a_classifier_and_a_translator_on_their_pages(logged_in, live_server, admin_user, make_version,
                                                               tmp_path):
    browser = logged_in
    classifier = make_version(admin_user)
    browser.get(f"{live_server.url}/admin/registry/modelversion/{classifier.pk}/change/")
    text = predict(browser, "a fine film\nawful")
    assert text.startswith("sentiment version 1") and text.count("label: ") == 2
    probabilities = browser.find_elements(By.CSS_SELECTOR, ".rnn-prob meter")
    assert len(probabilities) >= 4                                   # each label's probability, for each input

    translator = make_version(admin_user, task="translation")
    browser.get(f"{live_server.url}/admin/registry/modelversion/{translator.pk}/change/")
    # Raw JSON: one value as the API's `inputs` takes it, here pre-tokenized.
    predict(browser, json.dumps({"tokens": ["ein", "hund"]}), kind="json", n_best=3, beam_size=3)
    assert "n-best:" in browser.find_element(By.ID, "try-it-answer").text
    assert len(browser.find_elements(By.CSS_SELECTOR, ".rnn-nbest li")) == 3
    browser.save_screenshot(str(tmp_path / "translation.png"))

    refused = predict(browser, "x", n_best=1, beam_size=99)          # the API's limit, said on the page
    assert refused.startswith("400: ") and "beam" in refused
    assert predict(browser, "{not json", kind="json").startswith("The input is not JSON")
