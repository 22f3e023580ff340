"""Tests for POST /api/models/{name}/predict/: outputs per task, version resolution, limits, bad input, artifacts."""
from __future__ import annotations

import json
import math
import shutil

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from apps.serving.cache import model_get
from rnnservice.ml.artifacts import sha256_file
from tests.trained import corrupt

URL = "/api/models/{}/predict/"
INPUTS = {
    "tagging": ["Peter Blackburn visited Paris", {"tokens": ["EU", "rejects", "German", "call"]}],
    "classification": ["a witty , charming movie .", {"tokens": ["dull", "and", "cold", "."]}],
    "translation": ["Ein Mann schläft.", {"tokens": ["Eine", "Frau", "liest", "."]}],
    "generation": [{"label": "Czech"}, {"prompt": "No", "label": "Czech"}],
}


def post(client, name: str, body: dict):
    return client.post(URL.format(name), body, format="json")


@pytest.mark.parametrize("task", INPUTS)
def test_it_predicts_for_each_task_and_names_model_and_version(api, alice, make_version, task):
    version = make_version(alice, task=task)
    name = version.model.name
    response = post(api, name, {"inputs": INPUTS[task]})
    assert response.status_code == 200, response.json()
    assert (response.json()["model"], response.json()["version"]) == (name, 1)
    outputs = response.json()["outputs"]
    assert len(outputs) == 2
    labels = version.info["labels"]
    for output in outputs:
        if task == "tagging":
            assert set(output) == {"tokens", "tags", "scores"}
            assert len(output["tags"]) == len(output["tokens"]) == len(output["scores"])
            assert set(output["tags"]) <= set(labels)
            assert all(0.0 <= score <= 1.0 for score in output["scores"])
        elif task == "classification":
            assert set(output) == {"label", "probabilities"}
            assert output["label"] in labels and set(output["probabilities"]) == set(labels)
            assert math.isclose(sum(output["probabilities"].values()), 1.0, abs_tol=1e-4)
        elif task == "generation":
            assert set(output) == {"samples", "seed"}
            [sample] = output["samples"]
            assert set(sample) == {"text", "tokens", "logprob"} and sample["logprob"] <= 0
        else:
            assert set(output) == {"translation", "tokens", "score"}
            assert isinstance(output["translation"], str) and isinstance(output["score"], float)
            assert all(isinstance(token, str) for token in output["tokens"])
    if task == "tagging":
        assert outputs[0]["tokens"] == ["Peter", "Blackburn", "visited", "Paris"]   # the model's own tokenizer
        assert outputs[1]["tokens"] == ["EU", "rejects", "German", "call"]          # the given tokens


def test_it_takes_decoding_options_for_translation(api, alice, make_version):
    make_version(alice, task="translation")
    response = post(api, "de-en", {"inputs": ["Ein Hund läuft."], "options": {"beam_size": 3, "n_best": 2}})
    assert response.status_code == 200, response.json()
    output = response.json()["outputs"][0]
    assert len(output["n_best"]) == 2
    assert output["translation"] == output["n_best"][0]["translation"]


def test_it_samples_names_in_a_language_that_repeat_with_a_seed(api, alice, make_version):
    make_version(alice, task="generation")
    body = {"inputs": [{"label": "Japanese"}, {"prompt": "Sa", "label": "Japanese"}],
            "options": {"num_samples": 3, "temperature": 0.8, "top_k": 10, "top_p": 0.9, "seed": 42}}
    first, again = post(api, "surnames", body), post(api, "surnames", body)
    assert first.status_code == 200, first.json()
    assert first.json()["outputs"] == again.json()["outputs"]
    assert [len(output["samples"]) for output in first.json()["outputs"]] == [3, 3]
    assert all(sample["text"].startswith("Sa") for sample in first.json()["outputs"][1]["samples"])
    beam = post(api, "surnames", {"inputs": [{"label": "Czech"}], "options": {"beam_size": 3, "num_samples": 2}})
    assert beam.status_code == 200, beam.json()
    assert len(beam.json()["outputs"][0]["samples"]) == 2


@pytest.mark.parametrize(("options", "limit"), [
    ({"num_samples": 17}, "SERVING_MAX_SAMPLES"), ({"max_length": 257}, "SERVING_MAX_OUTPUT_LENGTH"),
    ({"beam_size": 11}, "SERVING_MAX_BEAM"),
])
def test_generation_options_over_their_limits_are_a_400_naming_the_setting(api, alice, make_version, options,
                                                                           limit):
    make_version(alice, task="generation")
    response = post(api, "surnames", {"inputs": [{"label": "Czech"}], "options": options})
    assert response.status_code == 400
    assert (response.json()["limit"], response.json()["field"]) == (limit, f"options.{next(iter(options))}")


def test_it_serves_a_promoted_version_on_the_next_request(api, alice, make_version):
    for _ in range(3):
        make_version(alice)
    body = {"inputs": ["great fun ."]}
    assert post(api, "sentiment", body).json()["version"] == 3                      # no production: the newest
    assert api.post("/api/models/sentiment/aliases/", {"alias": "production", "version": 1},
                    format="json").status_code == 201
    assert post(api, "sentiment", body).json()["version"] == 1                      # production
    assert api.post("/api/models/sentiment/aliases/", {"alias": "production", "version": 2},
                    format="json").status_code == 200
    assert post(api, "sentiment", body).json()["version"] == 2                      # moved: the next request follows
    api.post("/api/models/sentiment/aliases/", {"alias": "staging", "version": 3}, format="json")
    assert post(api, "sentiment", {**body, "alias": "staging"}).json()["version"] == 3
    assert post(api, "sentiment", {**body, "version": 1, "alias": "staging"}).json()["version"] == 1


@pytest.mark.parametrize(("body", "message"), [
    ({"version": 4}, "model 'sentiment' has no version 4"),
    ({"alias": "canary"}, "model 'sentiment' has no alias 'canary'"),
])
def test_it_answers_404_for_a_version_or_alias_the_model_lacks(api, alice, make_version, body, message):
    make_version(alice)
    response = post(api, "sentiment", {"inputs": ["x"], **body})
    assert (response.status_code, response.json()["detail"]) == (404, message)


@pytest.mark.parametrize(("task", "setting", "maximum", "body", "value", "index"), [
    ("classification", "SERVING_MAX_ITEMS", 2, {"inputs": ["a", "b", "c"]}, 3, None),
    ("classification", "SERVING_MAX_TOKENS", 3, {"inputs": ["fine", "one two three four"]}, 4, 1),
    ("tagging", "SERVING_MAX_TOKENS", 3, {"inputs": [{"tokens": ["a", "b", "c", "d", "e"]}]}, 5, 0),
    ("translation", "SERVING_MAX_TOKENS", 3, {"inputs": ["Ein Mann liest ein Buch."]}, None, 0),
    ("translation", "SERVING_MAX_INPUT_CHARS", 10, {"inputs": ["Ein Hund.", "Ein Mann liest."]}, 15, 1),
    ("tagging", "SERVING_MAX_INPUT_CHARS", 10, {"inputs": [{"tokens": ["Peter", "Blackburn"]}]}, 14, 0),
    ("translation", "SERVING_MAX_BEAM", 4, {"inputs": ["Ein Hund."], "options": {"beam_size": 5}}, 5, None),
    ("translation", "SERVING_MAX_OUTPUT_LENGTH", 20, {"inputs": ["Ein Hund."], "options": {"max_length": 21}}, 21,
     None),
    ("translation", "SERVING_MAX_OUTPUT_LENGTH", 20, {"inputs": ["Ein Hund."], "options": {"length_cap": 50}}, 50,
     None),
])
def test_it_refuses_a_request_over_a_limit_with_a_400_naming_it(api, alice, make_version, settings, task, setting,
                                                                maximum, body, value, index):
    make_version(alice, task=task)
    setattr(settings, setting, maximum)
    response = post(api, {"tagging": "ner", "classification": "sentiment", "translation": "de-en"}[task], body)
    assert response.status_code == 400
    assert response.json()["limit"] == setting and response.json()["maximum"] == maximum
    assert setting in response.json()["detail"]
    assert value is None or response.json()["value"] == value
    assert response.json().get("index") == index


@pytest.mark.parametrize("task", ["classification", "translation", "generation"])
def test_a_request_is_tokenized_once_and_its_options_checked_once(api, alice, make_version, empty_model_cache,
                                                                  monkeypatch, task):
    """The token limit counts the inputs as parsed for the model, and the batcher gets those same inputs: each
    input meets the tokenizer once, and the options meet their check once, whatever the batching thread does."""
    version = make_version(alice, task=task)
    predictor = model_get(version=version).predictor
    codec = predictor.codec
    tokenizer = codec.source_tokenizer if task == "translation" else codec.tokenizer
    calls = {"tokenize": 0, "options": 0}
    tokenize, parse_options = tokenizer.tokenize, predictor.task_type.parse_options

    def counted_tokenize(text):
        calls["tokenize"] += 1
        return tokenize(text)

    def counted_options(options, codec=None):
        calls["options"] += 1
        return parse_options(options, codec)
    monkeypatch.setattr(tokenizer, "tokenize", counted_tokenize)
    monkeypatch.setattr(predictor.task_type, "parse_options", counted_options)
    inputs = {"classification": ["a witty movie .", "dull ."], "translation": ["Ein Hund.", "Ein Mann liest."],
              "generation": [{"prompt": "No", "label": "Czech"}, {"prompt": "Ko", "label": "Czech"}]}[task]
    response = post(api, version.model.name, {"inputs": inputs})
    assert response.status_code == 200, response.json()
    assert calls == {"tokenize": 2, "options": 1}


def test_the_token_limit_counts_an_inputs_own_tokens_not_the_markers_a_task_adds(api, alice, make_version,
                                                                                  settings):
    name = make_version(alice, task="generation").model.name          # a character model: a letter, a token
    settings.SERVING_MAX_TOKENS = 3
    ok = post(api, name, {"inputs": [{"prompt": "Nov", "label": "Czech"}]})   # the model reads <bos> N o v
    assert ok.status_code == 200, ok.json()
    response = post(api, name, {"inputs": [{"prompt": "Nova", "label": "Czech"}]})
    assert (response.status_code, response.json()["limit"], response.json()["value"]) == (400, "SERVING_MAX_TOKENS", 4)


def test_it_lowers_the_default_beam_and_output_length_to_the_limits(api, alice, make_version, settings):
    make_version(alice, task="translation")
    settings.SERVING_MAX_BEAM, settings.SERVING_MAX_OUTPUT_LENGTH = 2, 2
    response = post(api, "de-en", {"inputs": ["Zwei Hunde rennen im Schnee.", "Ein Mann schläft."]})
    assert response.status_code == 200, response.json()
    assert all(len(output["tokens"]) <= 2 for output in response.json()["outputs"])


@pytest.mark.parametrize(("task", "body", "text"), [
    ("classification", {}, "inputs"),
    ("classification", {"inputs": []}, "inputs"),
    ("classification", {"inputs": "a text, not a list"}, "inputs"),
    ("classification", {"inputs": ["fine", 7]}, "inputs[1]: expected a non-empty string"),
    ("classification", {"inputs": [""]}, "inputs[0]: expected a non-empty string"),
    ("classification", {"inputs": ["   "]}, "inputs[0]: expected a non-empty string"),
    ("classification", {"inputs": [None]}, "inputs[0]"),
    ("classification", {"inputs": [["a", "list"]]}, "inputs[0]"),
    ("tagging", {"inputs": [{"tokens": []}]}, "inputs[0]"),
    ("tagging", {"inputs": ["ok", {"tokens": ["a", 3]}]}, "inputs[1]"),
    ("tagging", {"inputs": [{"tokens": ["a", ""]}]}, "inputs[0]"),
    ("tagging", {"inputs": [{"tokens": "a b"}]}, "inputs[0]"),
    ("tagging", {"inputs": [{"text": "a b"}]}, "inputs[0]"),
    ("tagging", {"inputs": [{"tokens": ["a"], "extra": 1}]}, "inputs[0]"),
    ("tagging", {"inputs": ["x"], "options": {"beam_size": 2}}, "tagging takes no prediction options"),
    ("translation", {"inputs": ["x"], "options": {"beam_size": "5"}}, "options.beam_size: must be an integer"),
    ("translation", {"inputs": ["x"], "options": {"beam_size": True}}, "options.beam_size: must be an integer"),
    ("translation", {"inputs": ["x"], "options": {"beam_size": 0}}, "must be at least 1"),
    ("translation", {"inputs": ["x"], "options": {"max_length": -1}}, "max_length at least 0"),
    ("translation", {"inputs": ["x"], "options": {"temperature": 1}}, "options.temperature: unknown option"),
    ("translation", {"inputs": ["x"], "options": {"length_penalty": "long"}}, "must be a number"),
    ("translation", {"inputs": ["x"], "options": {"length_penalty": 1e308, "beam_size": 2}},
     "options.length_penalty must be between 0 and 10"),
    ("translation", {"inputs": ["x"], "options": {"length_penalty": -1e308, "beam_size": 2}},
     "options.length_penalty must be between 0 and 10"),
    ("translation", {"inputs": ["x"], "options": ["beam_size"]}, "options"),
    ("generation", {"inputs": [{"label": "Klingon"}]}, "inputs[0]: label 'Klingon' is not one the model knows"),
    ("generation", {"inputs": [{"label": "Czech"}, "No"]}, "inputs[1]: the model is conditioned on a label"),
    ("generation", {"inputs": [{"label": "Czech"}], "options": {"temperature": -0.5}}, "options.temperature"),
    ("generation", {"inputs": [{"label": "Czech"}], "options": {"top_p": 1.5}}, "options.top_p"),
    ("generation", {"inputs": [{"label": "Czech"}], "options": {"seed": "x"}}, "options.seed: must be an integer"),
    ("classification", {"inputs": ["x"], "version": 0}, "version"),
    ("classification", {"inputs": ["x"], "version": "latest"}, "version"),
    ("classification", {"inputs": ["x"], "alias": ""}, "alias"),
])
def test_it_answers_bad_input_with_a_400_never_a_500(api, alice, make_version, task, body, text):
    version = make_version(alice, task=task)
    response = post(api, version.model.name, body)
    assert response.status_code == 400, response.json()
    assert text in json.dumps(response.json())
    if "inputs[" in text:
        assert (response.json()["field"], response.json()["index"]) == ("inputs", int(text[7]))


def test_it_answers_a_body_that_is_not_json_with_a_400(api, alice, make_version):
    make_version(alice)
    response = api.post(URL.format("sentiment"), "{not json", content_type="application/json")
    assert response.status_code == 400
    assert "JSON parse error" in response.json()["detail"]


SCALARS = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(
    max_size=20)
JSON = st.recursive(SCALARS, lambda children: st.lists(children, max_size=3)
                    | st.dictionaries(st.text(max_size=8), children, max_size=3), max_leaves=8)


@hypothesis_settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(inputs=st.lists(JSON | st.fixed_dictionaries({"tokens": st.lists(st.text(max_size=8), max_size=4)}),
                       max_size=4), options=st.dictionaries(st.sampled_from(["beam_size", "n_best", "max_length",
                                                                             "length_cap", "length_penalty", "x"]),
                                                            JSON, max_size=3))
def test_it_never_answers_arbitrary_json_with_a_500(api, alice, make_version, inputs, options):
    # Fixtures are not set up again for each example, so the version is registered by the first one only.
    if not alice.registered_models.filter(name="de-en").exists():
        make_version(alice, task="translation")
    response = post(api, "de-en", {"inputs": inputs, "options": options})
    assert response.status_code in (200, 400), response.json()


def test_it_refuses_a_changed_weights_file_and_still_serves_other_versions(api, alice, make_version, models_store):
    make_version(alice)
    second = make_version(alice)
    corrupt(second.folder / "weights.safetensors")
    for body in ({"inputs": ["great fun ."], "version": 2}, {"inputs": ["great fun ."]}):   # 2 is also the newest
        response = post(api, "sentiment", body)
        assert response.status_code == 503
        assert response.json()["detail"].startswith("model 'sentiment' version 2 cannot be used: weights.safetensors "
                                                  "has changed since it was saved")
        assert (response.json()["model"], response.json()["version"]) == ("sentiment", 2)
        assert str(models_store) not in response.json()["detail"]
    served = post(api, "sentiment", {"inputs": ["great fun ."], "version": 1})
    assert (served.status_code, served.json()["version"]) == (200, 1)


def test_it_stops_serving_a_cached_version_once_its_files_change(api, alice, make_version, empty_model_cache):
    version = make_version(alice)
    assert post(api, "sentiment", {"inputs": ["great fun ."]}).status_code == 200
    assert empty_model_cache.keys() == [(version.pk, version.sha256)]
    corrupt(version.folder / "weights.safetensors")
    response = post(api, "sentiment", {"inputs": ["great fun ."]})
    assert response.status_code == 503
    assert "weights.safetensors has changed since it was saved" in response.json()["detail"]
    assert empty_model_cache.keys() == []


def test_it_stops_serving_a_cached_version_once_its_onnx_graph_changes(api, alice, make_version, empty_model_cache):
    """model.onnx is what ONNX Runtime serves: a change to it is noticed as a change to the weights is."""
    version = make_version(alice)
    assert (version.folder / "model.onnx").is_file()
    assert post(api, "sentiment", {"inputs": ["great fun ."]}).status_code == 200
    corrupt(version.folder / "model.onnx")
    response = post(api, "sentiment", {"inputs": ["great fun ."]})
    assert response.status_code == 503
    assert "model.onnx has changed since it was saved" in response.json()["detail"]
    assert empty_model_cache.keys() == []


def test_it_refuses_a_missing_folder_and_a_manifest_that_is_not_the_recorded_one(api, alice, make_version):
    first, second = make_version(alice), make_version(alice)
    shutil.rmtree(first.folder)
    missing = post(api, "sentiment", {"inputs": ["x"], "version": 1})
    assert missing.status_code == 503
    assert "model 'sentiment' version 1 cannot be used: manifest.json is missing" in missing.json()["detail"]
    # Weights swapped for other ones with a manifest rewritten to match: the folder checks out on its own, but
    # it is not the artifact whose sha256 was recorded.
    weights = second.folder / "weights.safetensors"
    corrupt(weights)
    manifest = json.loads((second.folder / "manifest.json").read_text())
    manifest["files"]["weights.safetensors"] = sha256_file(weights)
    (second.folder / "manifest.json").write_text(json.dumps(manifest))
    swapped = post(api, "sentiment", {"inputs": ["x"], "version": 2})
    assert swapped.status_code == 503
    assert "manifest.json is not the one recorded at registration" in swapped.json()["detail"]


@pytest.mark.parametrize("other", ["bob", "charlie"])
def test_it_hides_other_peoples_models(api_as, alice, bob, make_version, request, other, empty_model_cache):
    make_version(alice)
    response = post(api_as(request.getfixturevalue(other)), "sentiment", {"inputs": ["great fun ."]})
    assert (response.status_code, response.json()["detail"]) == (404, "no model named 'sentiment'")
    assert empty_model_cache.keys() == []                          # nothing was loaded for them


def test_it_lets_staff_predict_with_anyones_model(api_as, alice, staff, make_version):
    make_version(alice)
    response = post(api_as(staff), "sentiment", {"inputs": ["great fun ."]})
    assert (response.status_code, response.json()["model"]) == (200, "sentiment")


def test_it_asks_anonymous_clients_to_log_in(client, alice, make_version, empty_model_cache):
    make_version(alice)
    response = client.post(URL.format("sentiment"), {"inputs": ["x"]}, content_type="application/json")
    assert response.status_code == 401
    assert empty_model_cache.keys() == []


def test_it_refuses_a_cached_version_whose_file_was_removed_and_serves_the_others(api, alice, make_version,
                                                                                   empty_model_cache):
    first, second = make_version(alice), make_version(alice)
    for number in (1, 2):
        assert post(api, "sentiment", {"inputs": ["great fun ."], "version": number}).status_code == 200
    (second.folder / "vocab.json").unlink()                   # loaded and cached, then its file went away
    for _ in range(2):                                         # refused every time, never served from memory
        response = post(api, "sentiment", {"inputs": ["great fun ."], "version": 2})
        assert response.status_code == 503
        assert response.json()["detail"].startswith("model 'sentiment' version 2 cannot be used: vocab.json is missing")
        assert (response.json()["model"], response.json()["version"]) == ("sentiment", 2)
    served = post(api, "sentiment", {"inputs": ["great fun ."], "version": 1})
    assert (served.status_code, served.json()["version"]) == (200, first.number)


def test_it_refuses_a_long_string_before_loading_the_model_or_its_tokenizer(api, alice, make_version, settings,
                                                                           empty_model_cache):
    make_version(alice, task="translation")
    settings.RNNSERVICE_MAX_BODY_BYTES = 3 * 1024 * 1024
    response = post(api, "de-en", {"inputs": ["Ein Hund. " * 240_000]})        # 2.4 MB
    assert response.status_code == 400
    assert (response.json()["limit"], response.json()["value"], response.json()["index"]) == (
        "SERVING_MAX_INPUT_CHARS", 2_400_000, 0)
    assert empty_model_cache.keys() == []                  # refused before the model (and its tokenizer) was loaded
