"""Numeric series through serving: REST predict with {"values": ...} inputs, its limits and refusals (each a 400
with the input's index), evaluation on a dataset and a file of series, the predict and evaluate commands, and
the batcher over series of mixed lengths."""
from __future__ import annotations

import json
import math
from concurrent.futures import ThreadPoolExecutor
from io import StringIO

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.core.management.base import CommandError

from apps.datasets.services import dataset_validate
from apps.serving.batching import Batcher
from rnnservice.ml.predict import Predictor
from tests.factories import DATA
from tests.trained import corrupt, series_classification_examples

PREDICT = "/api/models/{}/predict/"
EVALUATE = "/api/models/{}/evaluate/"
SINE = [[math.sin(t / 2), 0.0] for t in range(12)]                  # two features per frame, as the model takes


def post(client, name: str, body: dict | str):
    if isinstance(body, str):                                       # raw JSON text, for numbers json.dumps won't write
        return client.post(PREDICT.format(name), body, content_type="application/json")
    return client.post(PREDICT.format(name), body, format="json")


@pytest.fixture
def heartbeats(alice, make_version):
    return make_version(alice, task="classification", series=True)


def test_it_classifies_series_over_rest(api, heartbeats):
    response = post(api, "heartbeats", {"inputs": [{"values": SINE}, {"values": [[0.5, 0.1]]}]})
    assert response.status_code == 200, response.json()
    assert (response.json()["model"], response.json()["version"]) == ("heartbeats", 1)
    for output in response.json()["outputs"]:
        assert set(output) == {"label", "probabilities"}
        assert output["label"] in {"sine", "square"} and set(output["probabilities"]) == {"sine", "square"}
        assert math.isclose(sum(output["probabilities"].values()), 1.0, abs_tol=1e-4)


def test_it_tags_each_frame_of_a_series_and_takes_a_flat_list_for_one_feature(api, alice, make_version):
    make_version(alice, task="tagging", series=True)
    response = post(api, "beats", {"inputs": [{"values": [0.1, 0.9, 0.2, 0.8]}, {"values": [[0.7]]}]})
    assert response.status_code == 200, response.json()
    first, second = response.json()["outputs"]
    assert set(first) == {"tags", "scores"}
    assert (len(first["tags"]), len(first["scores"]), len(second["tags"])) == (4, 4, 1)
    assert set(first["tags"] + second["tags"]) <= {"beat", "rest"}
    assert all(0.0 <= score <= 1.0 for score in first["scores"])


def test_it_refuses_a_series_over_the_frame_limit_before_loading_the_model(api, heartbeats, settings):
    settings.SERVING_MAX_FRAMES = 12
    corrupt(heartbeats.folder / "weights.safetensors")           # loading it would answer 503: it is never loaded
    response = post(api, "heartbeats", {"inputs": [{"values": SINE}, {"values": SINE + [[0.0, 0.0]]}]})
    assert response.status_code == 400, response.json()
    body = response.json()
    assert (body["limit"], body["value"], body["maximum"]) == ("SERVING_MAX_FRAMES", 13, 12)
    assert (body["field"], body["index"]) == ("inputs", 1)
    assert body["detail"] == "the number of frames in inputs[1] is 13; the limit is 12 (SERVING_MAX_FRAMES)"


def test_the_token_limit_does_not_apply_to_series(api, heartbeats, settings):
    settings.SERVING_MAX_TOKENS = 1
    assert post(api, "heartbeats", {"inputs": [{"values": SINE}]}).status_code == 200


@pytest.mark.parametrize(("body", "index", "words"), [
    ({"inputs": [{"values": SINE}, {"values": [[0.1, 0.2, 0.3]]}]}, 1,
     "values[0]: the model takes 2 features per frame, this frame has 3"),
    ({"inputs": [{"values": [0.1, 0.2]}]}, 0, "values[0]: expected a frame of 2 numbers, not float"),
    ({"inputs": [{"values": SINE}, {"values": [[0.1, None]]}]}, 1, "values[0][1]: expected a finite number, not None"),
    ({"inputs": [{"values": [[0.1, "nan"]]}]}, 0, "values[0][1]: expected a finite number, not 'nan'"),
    ('{"inputs": [{"values": [[0.1, 0.2]]}, {"values": [[0.1, 0.2], [1e999, 0]]}]}', 1,
     "values[1][0]: expected a finite number, not inf"),
    ('{"inputs": [{"values": [[1e39, 0]]}]}', 0, "values[0][0]: expected a finite number"),   # past float32
    ({"inputs": [{"values": []}]}, 0, "a numeric series of frames"),
    ({"inputs": [{"values": SINE, "label": "sine"}]}, 0, "a numeric series of frames"),
    ({"inputs": ["a text for a model of series"]}, 0, "a numeric series of frames"),
    ({"inputs": [{"tokens": ["a", "b"]}]}, 0, "a numeric series of frames"),
])
def test_it_answers_a_bad_series_with_a_400_naming_its_index(api, heartbeats, body, index, words):
    response = post(api, "heartbeats", body)
    assert response.status_code == 400, response.json()
    assert (response.json()["field"], response.json()["index"]) == ("inputs", index)
    assert response.json()["detail"].startswith(f"inputs[{index}]: ")
    assert words in response.json()["detail"], response.json()["detail"]


def test_a_json_nan_is_a_parse_error_not_a_number(api, heartbeats):
    response = post(api, "heartbeats", '{"inputs": [{"values": [[NaN, 0]]}]}')
    assert response.status_code == 400
    assert "JSON parse error" in response.json()["detail"]


def test_a_model_of_text_refuses_a_series_naming_its_index(api, alice, make_version):
    make_version(alice)
    response = post(api, "sentiment", {"inputs": ["great fun .", {"values": SINE}]})
    assert response.status_code == 400, response.json()
    assert (response.json()["field"], response.json()["index"]) == ("inputs", 1)


def waves_jsonl(count: int = 6) -> bytes:
    """Series of the tiny model's two labels and two features, as JSONL."""
    rows = [{"values": example.values.tolist(), "label": example.label}
            for example in series_classification_examples(count)]
    return "".join(json.dumps(row) + "\n" for row in rows).encode()


def test_it_scores_a_version_on_a_dataset_of_series(api, heartbeats):
    response = api.post("/api/datasets/", {"name": "waves", "task": "classification",
                                           "train": SimpleUploadedFile("train.jsonl", waves_jsonl()),
                                           "test": SimpleUploadedFile("test.jsonl", waves_jsonl(4))},
                        format="multipart")
    assert response.status_code == 201, response.json()
    dataset = dataset_validate(dataset_id=response.json()["id"])
    assert (dataset.status, dataset.input) == ("valid", "values"), dataset.error
    response = api.post(EVALUATE.format("heartbeats"), {"dataset": dataset.pk}, format="json")
    assert response.status_code == 200, response.json()
    assert (response.json()["split"], response.json()["examples"]) == ("test", 4)
    assert set(response.json()["metrics"]) == {"accuracy", "macro_f1"}


def test_it_refuses_to_score_a_model_of_series_on_a_dataset_of_text(api, heartbeats):
    response = api.post("/api/datasets/", {"name": "text", "task": "classification",
                                           "train": (DATA / "tiny_sst.tsv").open("rb"),
                                           "test": (DATA / "tiny_sst.tsv").open("rb")}, format="multipart")
    dataset = dataset_validate(dataset_id=response.json()["id"])
    response = api.post(EVALUATE.format("heartbeats"), {"dataset": dataset.pk}, format="json")
    assert response.status_code == 400
    assert response.json()["field"] == "dataset"
    assert response.json()["detail"] == f"dataset {dataset.pk} holds text; the model reads numeric series"


def run(*args: str) -> list[dict]:
    out = StringIO()
    call_command(*args, stdout=out, stderr=StringIO())
    return [json.loads(line) for line in out.getvalue().splitlines()]


def test_manage_py_predict_reads_one_rest_input_a_line(heartbeats, tmp_path):
    inputs = tmp_path / "inputs.jsonl"
    inputs.write_text(json.dumps({"values": SINE}) + "\n\n" + json.dumps({"values": [[0.5, 0.1]]}) + "\n")
    lines = run("predict", "heartbeats", "--inputs", str(inputs))
    assert [(line["model"], line["version"]) for line in lines] == [("heartbeats", 1)] * 2
    assert all(set(line) == {"model", "version", "label", "probabilities"} for line in lines)


def test_manage_py_predict_reads_texts_from_a_file_too(alice, make_version, tmp_path):
    make_version(alice)
    inputs = tmp_path / "inputs.jsonl"
    inputs.write_text('"great fun ."\n{"tokens": ["dull", "."]}\n')
    assert [set(line) for line in run("predict", "sentiment", "--inputs", str(inputs))] == [
        {"model", "version", "label", "probabilities"}] * 2


@pytest.mark.parametrize(("content", "extra", "message"), [
    ('{"values": [[0.1, 0.2]]}\n{"values": [[0.1, \n', (), r"inputs.jsonl, line 2: not a JSON value"),
    ("\n\n", (), "the file holds no inputs"),
    ('{"values": [[0.1, 0.2]]}\n', ("a text",), "give TEXT arguments or --inputs FILE"),
    ('{"values": [[0.1, 0.2, 0.3]]}\n', (), r"inputs\[0\]: values\[0\]: the model takes 2 features per frame"),
])
def test_manage_py_predict_refuses_a_bad_inputs_file(heartbeats, tmp_path, content, extra, message):
    inputs = tmp_path / "inputs.jsonl"
    inputs.write_text(content)
    with pytest.raises(CommandError, match=message):
        run("predict", "heartbeats", *extra, "--inputs", str(inputs))
    with pytest.raises(CommandError, match="give TEXT arguments or --inputs FILE"):
        run("predict", "heartbeats")


def test_manage_py_evaluate_scores_a_file_of_series(heartbeats, tmp_path):
    path = tmp_path / "waves.jsonl"
    path.write_bytes(waves_jsonl())
    [line] = run("evaluate", "heartbeats", str(path))
    assert (line["model"], line["version"], line["examples"]) == ("heartbeats", 1, 6)
    assert {"accuracy", "macro_f1"} <= set(line)
    text = tmp_path / "text.tsv"
    text.write_text("a sine wave\tsine\nsquare and sharp\tsquare\n")
    with pytest.raises(CommandError, match="the file holds text; the model reads numeric series"):
        run("evaluate", "heartbeats", str(text))


def test_the_batcher_gives_each_series_of_a_mixed_batch_what_it_gets_alone(tiny_series_dirs):
    predictor = Predictor.load(tiny_series_dirs["classification"])
    requests = [[{"values": SINE[:n]}] for n in (12, 1, 7, 3, 12, 5, 2, 9)]
    alone = [predictor.predict(request) for request in requests]
    batcher = Batcher(predictor.run, max_items=64, max_wait=0.05)
    with ThreadPoolExecutor(len(requests)) as pool:
        answers = list(pool.map(lambda request: batcher.predict(predictor.prepare(request)), requests))
    batcher.close()
    for answer, expected in zip(answers, alone, strict=True):
        assert answer[0]["label"] == expected[0]["label"]
        assert answer[0]["probabilities"] == pytest.approx(expected[0]["probabilities"], abs=1e-5)
    assert batcher.requests == len(requests)


def test_a_batch_of_series_is_cut_into_forward_passes_of_similar_lengths(tiny_series_dirs, monkeypatch):
    predictor = Predictor.load(tiny_series_dirs["classification"])
    predictor.batch_size = 2
    passes: list[list[int]] = []
    forward = predictor.model.forward

    def recorded(**batch):
        passes.append(batch["lengths"].tolist())
        return forward(**batch)
    monkeypatch.setattr(predictor.model, "forward", recorded)
    batcher = Batcher(predictor.run, max_items=64, max_wait=0.0)
    outputs = batcher.predict(predictor.prepare([{"values": SINE[:n]} for n in (12, 1, 11, 2, 3, 10)]))
    batcher.close()
    assert len(outputs) == 6
    assert sorted(sorted(lengths) for lengths in passes) == [[1, 2], [3, 10], [11, 12]]


def test_predict_takes_json_only_since_a_form_cannot_hold_a_series(api, heartbeats):
    response = api.post(PREDICT.format("heartbeats"), {"inputs": "null"}, format="multipart")
    assert response.status_code == 415
    assert "multipart/form-data" in response.json()["detail"]
