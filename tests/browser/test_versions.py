"""Model versions in a real browser: try-it on a version's page answers through the REST API; two versions
selected in the list compared on one page."""
from __future__ import annotations

import json

from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select

from apps.registry.models import Alias
from apps.registry.services import alias_set
from apps.training.models import TrainingJob
from tests.browser.conftest import wait
from tests.factories import DatasetFactory


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
    browser.execute_script("document.getElementById('try-it-answer').scrollIntoView({block: 'end'})")
    browser.save_screenshot(str(tmp_path / "classification.png"))

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


def trained_by_a_job(version, owner, losses: list[float]) -> None:
    """A finished job that produced `version`, with a curve per epoch (the charts' data)."""
    rows = [{"epoch": i, "train_loss": loss, "dev_accuracy": 1 - loss / 2, "lr": 0.001}
            for i, loss in enumerate(losses, 1)]
    TrainingJob.objects.create(owner=owner, dataset=DatasetFactory(owner=owner), model_name=version.model.name,
                               config={"training": {"epochs": len(losses)}}, status="succeeded", progress=1.0,
                               epochs=rows, version=version)


def test_it_compares_two_versions_selected_in_the_list(logged_in, live_server, admin_user, make_version, tmp_path):
    browser = logged_in
    first = make_version(admin_user, metrics={"accuracy": 0.61, "macro_f1": 0.5})
    second = make_version(admin_user, metrics={"accuracy": 0.72, "macro_f1": 0.5})
    trained_by_a_job(first, admin_user, [1.2, 0.9, 0.8])
    trained_by_a_job(second, admin_user, [1.1, 0.7, 0.5, 0.4])

    browser.get(f"{live_server.url}/admin/registry/modelversion/")
    for version in (first, second):
        browser.find_element(By.CSS_SELECTOR, f'input[name="_selected_action"][value="{version.pk}"]').click()
    Select(browser.find_element(By.NAME, "action")).select_by_value("compare_versions")
    browser.find_element(By.CSS_SELECTOR, 'button[name="index"]').click()
    wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, ".rnn-chart canvas"), "the compare page's charts")
    lines = browser.execute_script("return Chart.getChart(document.querySelector('canvas[aria-label=train_loss]'))"
                                   ".data.datasets.map(d => [d.label, d.data.filter(v => v !== null).length])")
    assert lines == [[str(first), 3], [str(second), 4]]                # both curves, overlaid
    differs = [th.text for th in browser.find_elements(By.CSS_SELECTOR, "#compare-metrics th.rnn-differs")]
    assert differs == ["accuracy"]                                      # macro_f1 is the same: not marked


def test_promoting_a_version_that_changes_its_answers_needs_the_confirmed_action(logged_in, live_server, admin_user,
                                                                                 make_version):
    browser = logged_in
    make_version(admin_user, "sentiment")
    changed = make_version(admin_user, "sentiment", series=True)        # numeric series: another input kind
    alias_set(model=changed.model, alias="production", version_number=1)

    def promote(action: str) -> str:
        browser.get(f"{live_server.url}/admin/registry/modelversion/")
        browser.find_element(By.CSS_SELECTOR, f'input[name="_selected_action"][value="{changed.pk}"]').click()
        Select(browser.find_element(By.NAME, "action")).select_by_value(action)
        browser.find_element(By.CSS_SELECTOR, 'button[name="index"]').click()
        return wait(browser, lambda d: d.find_element(By.CSS_SELECTOR, ".messagelist").text, "the action's message")

    refused = promote("promote_to_production")
    assert "Sentiment version 2 was not promoted: it changes what production answers (the input kind changes " \
           "from tokens to values" in refused
    assert Alias.objects.get(name="production").version.number == 1
    assert promote("promote_to_production_confirmed") == "Promoted sentiment version 2 to production."
    assert Alias.objects.get(name="production").version.number == 2
