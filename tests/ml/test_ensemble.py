"""training.ensemble: classifiers trained one after another with seeds of their own, answering with the mean of
their probabilities; numbered epochs, resume, save and load, and the fields it is refused with."""
from __future__ import annotations

import pytest
import torch

from rnnservice.ml.artifacts import load_version
from rnnservice.ml.config import config_from_dict
from rnnservice.ml.errors import ConfigError, TrainingStopped
from rnnservice.ml.pipeline import train
from rnnservice.ml.predict import Predictor
from rnnservice.ml.runtime import OnnxModel, serving_model
from rnnservice.ml.tasks.classification import ClassifierEnsemble
from tests.ml.test_series import values_config, waves
from tests.ml.test_training import assert_same_weights, stop_after, weights


def ensemble_config(members: int, epochs: int = 3):
    config = values_config("classification")
    config.training.epochs, config.training.patience, config.training.ensemble = epochs, epochs, members
    return config


def test_an_ensemble_trains_its_members_one_by_one_and_averages_their_probabilities(tmp_path):
    seen = []
    result = train(ensemble_config(3), waves(40), on_epoch=seen.append)

    assert isinstance(result.model, ClassifierEnsemble) and len(result.model.members) == 3
    assert [(e.epoch, e.member) for e in seen] == [(n, 1 + (n - 1) // 3) for n in range(1, 10)]
    assert [e.epoch for e in result.fit.history] == list(range(1, 10))
    assert [m["seed"] for m in result.split["members"]] == [13, 14, 15]
    # The first member is the model a run without an ensemble trains; the others differ by their seeds.
    single = train(ensemble_config(1), waves(40))
    assert_same_weights(weights(result.model.members[0]), weights(single.model))
    assert not torch.equal(result.model.members[1].head.weight, result.model.members[0].head.weight)

    inputs = [{"values": ex.values.tolist()} for ex in waves(5, seed=3)]
    answered = Predictor(result.model, result.codec, result.config).predict(inputs)
    alone = [Predictor(m, result.codec, result.config).predict(inputs) for m in result.model.members]
    for i, output in enumerate(answered):
        for label, p in output["probabilities"].items():
            assert p == pytest.approx(sum(a[i]["probabilities"][label] for a in alone) / 3, abs=2e-6)

    result.save(tmp_path / "v")
    loaded = load_version(tmp_path / "v")
    assert loaded.info["split"]["members"] == result.split["members"]
    assert Predictor(loaded.model, loaded.codec, loaded.config).predict(inputs) == answered


def test_a_stopped_ensemble_resumes_in_the_member_it_stopped_in(tmp_path):
    config = ensemble_config(2, epochs=2)
    straight = train(config, waves(30), checkpoint_dir=tmp_path / "straight")
    with pytest.raises(TrainingStopped):
        train(config, waves(30), checkpoint_dir=tmp_path / "resumed", on_epoch=stop_after(3))
    seen = []
    resumed = train(config, waves(30), checkpoint_dir=tmp_path / "resumed", on_epoch=seen.append)

    assert [(e.epoch, e.member) for e in seen] == [(4, 2)]               # member 1 and epoch 3 are not trained again
    assert_same_weights(weights(straight.model), weights(resumed.model))
    assert sorted(p.name for p in (tmp_path / "resumed").iterdir()) == ["member-1", "member-2", "run.json"]


def test_an_ensemble_is_bounded():
    with pytest.raises(ConfigError, match="between 1 and 16") as error:
        config_from_dict({"training": {"ensemble": 17}}, task="classification")
    assert error.value.field == "training.ensemble"


def test_an_ensemble_is_for_classification_only():
    with pytest.raises(ConfigError, match="applies to classification only, not tagging"):
        config_from_dict({"training": {"ensemble": 2}}, task="tagging")


def test_an_ensemble_exports_to_onnx_and_predicts_what_pytorch_does(tiny_config, examples, tmp_path):
    config = tiny_config("classification", training={"epochs": 1, "ensemble": 2, "quantize": True})
    result = train(config, examples("classification"))
    result.save(tmp_path / "v")
    loaded = load_version(tmp_path / "v")
    assert loaded.info["runtime"]["onnx"]["checked"], loaded.info["runtime"]
    assert loaded.info["runtime"]["onnx"]["int8"]["made"]                 # scored on the dev set as one model is
    runner = serving_model(loaded.model, tmp_path / "v", loaded.info, runtime="onnx", device="cpu", threads=1)
    assert isinstance(runner, OnnxModel)
    texts = ["A great soup, really.", "An awful book.", "fine"]
    expected = Predictor(loaded.model, loaded.codec, loaded.config).predict(texts)
    found = Predictor(loaded.model, loaded.codec, loaded.config, runner=runner).predict(texts)
    for want, got in zip(expected, found, strict=True):
        assert want["label"] == got["label"]
        assert all(abs(want["probabilities"][k] - got["probabilities"][k]) <= 1e-4 for k in want["probabilities"])
