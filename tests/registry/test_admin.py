"""Tests for the registry admin: models with read-only versions, aliases set through alias_set, promotion."""
from __future__ import annotations

from html.parser import HTMLParser

from apps.registry.models import Alias, ModelVersion, RegisteredModel
from apps.training.models import TrainingJob  # here only: the registry itself never imports training
from tests.factories import DatasetFactory


class FormFields(HTMLParser):
    """The values a browser would submit from a page's form: inputs, textareas and selected options."""

    def __init__(self) -> None:
        super().__init__()
        self.values: dict[str, str] = {}
        self._select: str | None = None
        self._textarea: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attr = dict(attrs)
        name = attr.get("name")
        if tag == "input" and name and attr.get("type") not in ("submit", "checkbox", "file"):
            self.values[name] = attr.get("value") or ""
        elif tag == "select" and name:
            self._select = name
            self.values[name] = ""
        elif tag == "option" and self._select and "selected" in attr:
            self.values[self._select] = attr.get("value") or ""
        elif tag == "textarea" and name:
            self._textarea = name
            self.values[name] = ""

    def handle_endtag(self, tag: str) -> None:
        if tag == "select":
            self._select = None
        elif tag == "textarea":
            self._textarea = None

    def handle_data(self, data: str) -> None:
        if self._textarea:
            self.values[self._textarea] += data.lstrip("\n")


def change_url(model: RegisteredModel) -> str:
    return f"/admin/registry/registeredmodel/{model.pk}/change/"


def form_of(admin_client, url: str) -> dict[str, str]:
    page = admin_client.get(url)
    assert page.status_code == 200
    parser = FormFields()
    parser.feed(page.content.decode())
    return {name: value for name, value in parser.values.items() if name != "csrfmiddlewaretoken"}


def test_it_lists_models_and_shows_versions_read_only(admin_client, alice, make_version):
    first = make_version(alice)
    make_version(alice)
    listing = admin_client.get("/admin/registry/registeredmodel/")
    assert listing.status_code == 200
    assert "sentiment" in listing.content.decode()
    html = admin_client.get(change_url(first.model)).content.decode()
    assert first.sha256 in html
    assert 'name="versions-0-sha256"' not in html                # shown, never editable
    assert "/admin/registry/registeredmodel/add/" not in listing.content.decode()
    assert admin_client.get("/admin/registry/registeredmodel/add/").status_code == 403
    assert admin_client.post(f"/admin/registry/registeredmodel/{first.model.pk}/delete/",
                             {"post": "yes"}).status_code == 403
    assert ModelVersion.objects.count() == 2


def test_it_links_a_version_to_the_job_that_produced_it(admin_client, alice, make_version):
    dataset = DatasetFactory(owner=alice, task="classification", format="tsv", files={"train": "tiny_sst.tsv"})
    version = make_version(alice, dataset=dataset)
    job = TrainingJob.objects.create(owner=alice, dataset=dataset, model_name="sentiment", config={},
                                     status="succeeded", version=version)
    link = f'<a href="/admin/training/trainingjob/{job.pk}/change/">{job.pk}</a>'
    assert link in admin_client.get(change_url(version.model)).content.decode()
    assert link in admin_client.get(f"/admin/registry/modelversion/{version.pk}/change/").content.decode()


def test_a_version_page_shows_what_serves_it_and_the_int8_graphs_dev_score(admin_client, alice, make_version):
    version = make_version(alice)
    html = admin_client.get(f"/admin/registry/modelversion/{version.pk}/change/").content.decode()
    serves = {"onnx": "ONNX Runtime", "torch": "PyTorch"}[version.info["runtime"]["runtime"]]
    assert f"<th>serves</th><td>{serves}</td>" in html and "<th>ms, one input</th>" in html
    int8 = {"made": True, "metric": "accuracy", "dev_float": {"accuracy": 0.9125}, "dev_int8": {"accuracy": 0.905},
            "within_tolerance": False, "tolerance": 0.005, "ms_batch_1": 0.5}
    version.info["runtime"]["onnx"]["int8"] = int8
    version.save()
    html = admin_client.get(f"/admin/registry/modelversion/{version.pk}/change/").content.decode()
    assert "<th>int8 dev accuracy</th>" in html
    assert "0.9125</span> → <span" in html and "past the tolerance of" in html


def test_a_version_page_lists_an_ensembles_members_under_its_metrics(admin_client, alice, make_version):
    version = make_version(alice)
    page = f"/admin/registry/modelversion/{version.pk}/change/"
    assert "<th>member</th>" not in admin_client.get(page).content.decode()     # a single model: no such row
    version.info["split"]["members"] = [{"seed": 13, "best_epoch": 9, "dev": {"accuracy": 0.94}},
                                        {"seed": 14, "best_epoch": 12, "dev": {"accuracy": 0.96}}]
    version.save()
    html = admin_client.get(page).content.decode()
    assert "<th>member</th><th>seed</th><th>best epoch</th><th>dev</th>" in html
    assert '<tr><td>2</td><td>14</td><td>12</td><td>accuracy <span title="0.96">0.96</span></td></tr>' in html
    assert html.index("<th>member</th>") > html.index("<th>accuracy</th>")           # under the metrics


def test_it_promotes_through_the_alias_inline(admin_client, alice, make_version):
    model = make_version(alice).model
    second = make_version(alice)
    data = form_of(admin_client, change_url(model))
    data.update({"description": "word LSTM", "aliases-0-name": "production", "aliases-0-version": str(second.pk)})
    response = admin_client.post(change_url(model), data)
    assert response.status_code == 302, response.content.decode()[:2000]
    assert Alias.objects.get(model=model, name="production").version == second
    assert RegisteredModel.objects.get(pk=model.pk).description == "word LSTM"

    data = form_of(admin_client, change_url(model))                 # move it back to version 1
    first_pk = str(model.versions.get(number=1).pk)
    assert data["aliases-0-name"] == "production" and data["aliases-0-version"] == str(second.pk)
    data["aliases-0-version"] = first_pk
    assert admin_client.post(change_url(model), data).status_code == 302
    assert Alias.objects.get(model=model, name="production").version.number == 1
    assert Alias.objects.count() == 1

    data = form_of(admin_client, change_url(model))                 # delete it
    data["aliases-0-DELETE"] = "on"
    assert admin_client.post(change_url(model), data).status_code == 302
    assert not Alias.objects.exists()


def test_it_refuses_a_bad_alias_name_or_another_models_version(admin_client, alice, make_version):
    model = make_version(alice).model
    other = make_version(alice, "other")
    data = form_of(admin_client, change_url(model))
    data.update({"aliases-0-name": "Not An Alias", "aliases-0-version": str(model.versions.get().pk)})
    response = admin_client.post(change_url(model), data)
    assert response.status_code == 200
    assert "lower-case letters" in response.content.decode()
    data.update({"aliases-0-name": "production", "aliases-0-version": str(other.pk)})
    response = admin_client.post(change_url(model), data)
    assert response.status_code == 200
    assert "Select a valid choice" in response.content.decode()
    assert not Alias.objects.exists()


def test_it_promotes_a_version_with_the_admin_action(admin_client, alice, make_version):
    make_version(alice)
    second = make_version(alice)
    other = make_version(alice, "other")
    listing = admin_client.get("/admin/registry/modelversion/")
    assert listing.status_code == 200 and "promote_to_production" in listing.content.decode()
    response = admin_client.post("/admin/registry/modelversion/", {
        "action": "promote_to_production", "index": 0, "_selected_action": [second.pk, other.pk]}, follow=True)
    assert response.status_code == 200
    assert "Promoted sentiment version 2 to production." in response.content.decode()
    assert dict(Alias.objects.values_list("model__name", "version__number")) == {"sentiment": 2, "other": 1}
    detail = admin_client.get(f"/admin/registry/modelversion/{second.pk}/change/")
    assert detail.status_code == 200 and second.sha256 in detail.content.decode()


def test_it_refuses_two_versions_of_one_model_in_one_promotion(admin_client, alice, make_version):
    first, second = make_version(alice), make_version(alice)
    response = admin_client.post("/admin/registry/modelversion/", {
        "action": "promote_to_production", "index": 0, "_selected_action": [first.pk, second.pk]}, follow=True)
    assert "Select at most one version of each model" in response.content.decode()
    assert not Alias.objects.exists()


def test_it_lists_versions_with_metrics_as_columns_and_a_short_hash(admin_client, alice, make_version):
    version = make_version(alice, metrics={"accuracy": 0.912345678, "macro_f1": 0.5})
    make_version(alice, "tagger", task="tagging", metrics={"entity_f1": 0.25})
    html = admin_client.get("/admin/registry/modelversion/").content.decode()
    for name in ("accuracy", "macro_f1", "entity_f1"):
        assert f'class="column-metric_{name}"' in html
    assert '<span title="0.912345678">0.9123</span>' in html
    assert f'<code title="{version.sha256}">{version.sha256[:12]}…</code>' in html
    assert f">{version.sha256}<" not in html                       # the whole hash only on hover
    page = admin_client.get(f"/admin/registry/modelversion/{version.pk}/change/").content.decode()
    assert version.sha256 in page and "<th>accuracy</th><td><span title=\"0.912345678\">0.9123</span></td>" in page
    model_page = admin_client.get(change_url(version.model)).content.decode()
    assert "accuracy <span" in model_page and "macro_f1 <span" in model_page


def test_it_puts_a_try_it_form_on_a_version_page_with_the_tasks_decoding_options(admin_client, alice, make_version):
    classifier = make_version(alice)
    html = admin_client.get(f"/admin/registry/modelversion/{classifier.pk}/change/").content.decode()
    assert '<form id="try-it" data-url="/api/models/sentiment/predict/" data-version="1"' in html
    assert "rnnservice/tryit.js" in html and 'name="beam_size"' not in html       # classification takes none
    translator = make_version(alice, task="translation")
    html = admin_client.get(f"/admin/registry/modelversion/{translator.pk}/change/").content.decode()
    assert 'name="beam_size" value="5"' in html and 'name="n_best" value="1"' in html   # the core's defaults
    admin_form_end = html.index("</form>", html.index('id="modelversion_form"'))
    assert html.index('id="try-it"') > admin_form_end                     # not inside the admin's own form


def test_a_generator_is_tried_from_its_first_label_with_a_seed_that_may_be_left_fresh(admin_client, alice,
                                                                                      make_version):
    generator = make_version(alice, task="generation")
    html = admin_client.get(f"/admin/registry/modelversion/{generator.pk}/change/").content.decode()
    assert '{&quot;label&quot;: &quot;Czech&quot;}</textarea>' in html
    assert 'value="json" checked' in html
    assert 'name="seed" value="-1"' in html and 'min="-1"' in html     # -1, a fresh seed, passes the form's check


def test_it_compares_selected_versions_side_by_side(admin_client, alice, make_version):
    first = make_version(alice, metrics={"accuracy": 0.5, "macro_f1": 0.25})
    second = make_version(alice, metrics={"accuracy": 0.75, "macro_f1": 0.25})
    response = admin_client.post("/admin/registry/modelversion/", {"action": "compare_versions",
                                                                   "_selected_action": [first.pk, second.pk]})
    assert response.status_code == 302 and "/admin/registry/modelversion/compare/?ids=" in response["Location"]
    html = admin_client.get(response["Location"]).content.decode()
    assert '<th class="rnn-differs">accuracy</th><td class="rnn-differs">0.5</td><td class="rnn-differs">0.75</td>' \
        in html
    assert "<th>macro_f1</th><td>0.25</td><td>0.25</td>" in html
    assert "None of these has per-epoch curves." in html                # registered without a training job
