"""rnnservice.ml.runtime: a tagger or classifier of text, trained, exports to ONNX and passes its check against
PyTorch at save, the result recorded in config.json (and model.onnx in the manifest); predictions through ONNX
Runtime equal PyTorch's; what does not export is served by PyTorch with the reason recorded."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from rnnservice.ml.artifacts import load_version, save_version, verify_version
from rnnservice.ml.models import build_model, vocab_sizes
from rnnservice.ml.predict import Predictor
from rnnservice.ml.runtime import CHECK_TOLERANCE, ONNX_FILE, OnnxModel, export, serving_model

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
