"""rnnservice.ml.runtime: a tagger or classifier of text, trained, exports to ONNX and passes its check against
PyTorch at save, the result recorded in config.json (and model.onnx in the manifest); predictions through ONNX
Runtime equal PyTorch's; what does not export is served by PyTorch with the reason recorded."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from rnnservice.ml.artifacts import load_version, save_version, verify_version
from rnnservice.ml.errors import ArtifactError
from rnnservice.ml.models import build_model, vocab_sizes
from rnnservice.ml.pipeline import train
from rnnservice.ml.predict import Predictor
from rnnservice.ml.runtime import CHECK_TOLERANCE, INT8_FILE, ONNX_FILE, OnnxModel, export, serving_model

INPUTS = {"tagging": ["Anna Schmidt visited Rome .", {"tokens": ["Li"]}, "Omar saw Berlin and Paris today"],
          "classification": ["A great soup, really.", "An awful book.", {"tokens": ["lovely"]}]}


@pytest.mark.parametrize("task", ["tagging", "classification"])
def test_a_saved_version_records_its_runtime_and_verifies(trained, task, tmp_path):
    run = trained[task]
    folder = tmp_path / "v"
    run.save(folder)
    recorded = json.loads((folder / "config.json").read_text())["runtime"]
    assert recorded["runtime"] in ("onnx", "torch")
    manifest = json.loads((folder / "manifest.json").read_text())["files"]
    assert recorded["onnx"]["exported"] and recorded["onnx"]["checked"], recorded     # trained, and it passes
    assert recorded["onnx"]["max_difference"] <= CHECK_TOLERANCE
    assert ONNX_FILE in manifest and (folder / ONNX_FILE).is_file()
    verify_version(folder)


@pytest.mark.parametrize("task", ["tagging", "classification"])
def test_a_trained_model_exports_and_predicts_what_pytorch_does(trained, task, tmp_path):
    """A trained tagger and classifier (the fixtures: word dropout 0.05 in training) pass the check, and predict
    through ONNX Runtime what PyTorch predicts. Until 2026-12-05 both were refused: the exporter left the
    check's PyTorch reference in training mode, its word dropout on (see _Logits)."""
    run = trained[task]
    model = run.model
    assert run.config.training.word_dropout > 0                  # what made the old reference drift
    modes = [module.training for module in model.modules()]
    recorded = export(model, run.codec, task, tmp_path)
    assert recorded["onnx"].get("checked"), recorded
    assert recorded["onnx"]["max_difference"] <= CHECK_TOLERANCE
    assert [module.training for module in model.modules()] == modes      # the export works on a copy
    assert set(recorded["onnx"]["ms_batch_1"]) == {"torch", "onnx"}
    eager = Predictor(model, run.codec, run.config)
    onnx = Predictor(model, run.codec, run.config, runner=OnnxModel(model, tmp_path / ONNX_FILE, threads=1))
    expected, found = eager.predict(INPUTS[task]), onnx.predict(INPUTS[task])
    for want, got in zip(expected, found, strict=True):
        assert want.get("tags", want.get("label")) == got.get("tags", got.get("label"))
        scores = zip(want.get("scores", want.get("probabilities", {}).values()),
                     got.get("scores", got.get("probabilities", {}).values()), strict=True)
        assert all(abs(a - b) <= 1e-4 for a, b in scores)


@pytest.mark.parametrize("task", ["classification", "tagging"])
def test_a_model_of_numeric_series_exports_and_predicts_what_pytorch_does(task, tmp_path):
    """Frames and lengths in, as tokens are: the check runs on padded batches of random frames of mixed lengths."""
    from tests.ml.test_series import tagged_waves, values_config, waves
    config = values_config(task)
    config.training.epochs = 3
    result = train(config, waves(30) if task == "classification" else tagged_waves(30))
    recorded = export(result.model, result.codec, task, tmp_path)
    assert recorded["onnx"].get("checked"), recorded
    assert recorded["onnx"]["max_difference"] <= CHECK_TOLERANCE
    series = waves(4, seed=5) if task == "classification" else tagged_waves(4, seed=5)
    inputs = [{"values": ex.values.tolist()} for ex in series]          # lengths 5 to 30: padded batches
    runner = OnnxModel(result.model, tmp_path / ONNX_FILE, threads=1)
    expected = Predictor(result.model, result.codec, result.config).predict(inputs)
    found = Predictor(result.model, result.codec, result.config, runner=runner).predict(inputs)
    for want, got in zip(expected, found, strict=True):
        assert want.get("tags", want.get("label")) == got.get("tags", got.get("label"))
        scores = zip(want.get("scores", want.get("probabilities", {}).values()),
                     got.get("scores", got.get("probabilities", {}).values()), strict=True)
        assert all(abs(a - b) <= 1e-4 for a, b in scores)


def test_onnx_runtime_gets_batches_of_similar_lengths_and_the_same_outputs(trained, tmp_path, monkeypatch):
    """ONNX Runtime pays for padded steps, so Predictor.run cuts its batches where lengths spread past
    OnnxModel.length_spread; PyTorch's batches are cut by size alone. The outputs are the same either way."""
    run = trained["tagging"]
    export(run.model, run.codec, "tagging", tmp_path)
    runner = OnnxModel(run.model, tmp_path / ONNX_FILE, threads=1)
    texts = ["Anna", "Li Wei", "Omar saw it", "Anna saw Rome", "Omar and Li saw Berlin and Paris on Monday ."]
    seen: list[list[int]] = []
    call = runner.__call__

    def recorded(self, *args, **kwargs):
        lengths = kwargs["lengths"] if "lengths" in kwargs else args[1]
        seen.append(sorted(lengths.tolist()))
        return call(*args, **kwargs)
    monkeypatch.setattr(OnnxModel, "__call__", recorded)
    onnx = Predictor(run.model, run.codec, run.config, runner=runner)
    found = onnx.predict(texts)
    assert seen == [[1, 2], [3, 3], [10]]              # up to 1.25 x the shortest, plus one: 2.25, then 4.75
    assert [o["tags"] for o in found] == [o["tags"] for o in Predictor(run.model, run.codec, run.config).predict(texts)]


def test_what_does_not_export_is_served_by_pytorch(trained, tmp_path):
    run = trained["translation"]
    run.save(tmp_path / "v")
    version = load_version(tmp_path / "v")
    assert version.info["runtime"] == {"runtime": "torch", "onnx": {
        "exported": False, "reason": "only tagging and classification models are exported"}}
    for runtime in ("auto", "onnx", "torch"):
        assert serving_model(version.model, tmp_path / "v", version.info, runtime=runtime, device="cpu",
                             threads=1) is version.model
    with pytest.raises(ValueError, match="SERVING_RUNTIME must be one of auto, torch, onnx"):
        serving_model(version.model, tmp_path / "v", version.info, runtime="tensorrt", device="cpu", threads=1)


def test_serving_follows_the_recorded_choice_unless_told(trained, tmp_path):
    run = trained["tagging"]
    torch.manual_seed(0)
    model = build_model(run.config, vocab_sizes(run.codec)).eval()
    folder = tmp_path / "v"
    save_version(folder, model=model, codec=run.codec, config=run.config)
    version = load_version(folder)
    recorded = version.info["runtime"]["runtime"]
    chosen = serving_model(version.model, folder, version.info, runtime="auto", device="cpu", threads=1)
    assert isinstance(chosen, OnnxModel) == (recorded == "onnx")
    assert isinstance(serving_model(version.model, folder, version.info, runtime="onnx", device="cpu", threads=1),
                      OnnxModel)
    assert serving_model(version.model, folder, version.info, runtime="torch", device="cpu",
                         threads=1) is version.model
    assert serving_model(version.model, folder, version.info, runtime="onnx", device="cuda",
                         threads=1) is version.model            # a GPU: PyTorch
    assert Path(folder / ONNX_FILE).is_file()


@pytest.mark.parametrize("task", ["tagging", "classification"])
def test_quantize_saves_an_int8_graph_scored_on_the_dev_set(tiny_config, examples, task, tmp_path):
    """training.quantize: model.int8.onnx beside model.onnx, in the manifest, with the dev metrics of both graphs
    and their change recorded; `auto` serves it only where the record says onnx_int8."""
    run = train(tiny_config(task, training={"quantize": True}), examples(task))
    folder = tmp_path / "v"
    run.save(folder)
    recorded = json.loads((folder / "config.json").read_text())["runtime"]
    int8 = recorded["onnx"]["int8"]
    assert int8["made"], int8
    metric = run.split["metric"]
    assert int8["metric"] == metric and metric in int8["dev_float"] and metric in int8["dev_int8"]
    assert int8["dev_change"][metric] == pytest.approx(int8["dev_int8"][metric] - int8["dev_float"][metric], abs=1e-4)
    assert int8["dev_float"][metric] == pytest.approx(run.metrics[metric], abs=1e-6)   # the float graph is PyTorch's
    assert int8["bytes"]["int8"] < int8["bytes"]["float"] and int8["ms_batch_1"] > 0
    assert recorded["runtime"] in ("torch", "onnx", "onnx_int8")
    assert INT8_FILE in json.loads((folder / "manifest.json").read_text())["files"]
    version = load_version(folder)
    chosen = serving_model(version.model, folder, version.info, runtime="auto", device="cpu", threads=1)
    assert getattr(chosen, "path", None) == (folder / INT8_FILE if recorded["runtime"] == "onnx_int8"
                                             else folder / ONNX_FILE if recorded["runtime"] == "onnx" else None)
    as_int8 = {**version.info, "runtime": {**recorded, "runtime": "onnx_int8"}}
    runner = serving_model(version.model, folder, as_int8, runtime="auto", device="cpu", threads=1)
    assert runner.path == folder / INT8_FILE
    outputs = Predictor(version.model, version.codec, version.config, runner=runner).predict(INPUTS[task])
    assert len(outputs) == len(INPUTS[task])
    forced = serving_model(version.model, folder, as_int8, runtime="onnx", device="cpu", threads=1)
    assert forced.path == folder / ONNX_FILE                     # SERVING_RUNTIME=onnx: the float graph
    (folder / INT8_FILE).write_bytes(b"changed")
    with pytest.raises(ArtifactError, match="model.int8.onnx has changed"):
        verify_version(folder)


def test_quantize_without_a_dev_set_records_why_no_int8_graph(trained, tmp_path):
    run = trained["tagging"]
    recorded = export(run.model, run.codec, "tagging", tmp_path, quantize=True)
    assert recorded["onnx"]["int8"] == {"made": False, "reason": "no dev set to check it on"}
    assert recorded["runtime"] in ("torch", "onnx") and not (tmp_path / INT8_FILE).exists()
