"""Numeric series through the core: normalisation, codecs, the frame input of the models, training, saving and
prediction from REST-shaped inputs."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from rnnservice.ml.artifacts import load_version
from rnnservice.ml.config import config_from_dict
from rnnservice.ml.data import batches, codec_from_dict, split_dev
from rnnservice.ml.errors import ConfigError
from rnnservice.ml.formats.numeric import SeriesExample
from rnnservice.ml.models import build_model
from rnnservice.ml.pipeline import train
from rnnservice.ml.predict import InputError, Predictor
from rnnservice.ml.series import Normalizer
from rnnservice.ml.tasks.classification import SeriesClassificationCodec
from rnnservice.ml.tasks.tagging import SeriesTaggingCodec

TINY = {"embed_dim": 8, "hidden_dim": 16, "num_layers": 1, "dropout": 0.1}


def waves(count: int = 40, seed: int = 0) -> list[SeriesExample]:
    """Two channels of 12 to 30 steps: a sine wave ("sine") or a square wave ("square"), offset and scaled far
    from zero mean and unit variance, so that the normalisation matters."""
    rng = np.random.default_rng(seed)
    examples = []
    for i in range(count):
        steps = int(rng.integers(12, 31))
        t = np.linspace(0, 4 * math.pi, steps)
        wave = np.sin(t) if i % 2 == 0 else np.sign(np.sin(t))
        values = np.stack([100 + 20 * wave, rng.normal(-5, 0.1, steps)], axis=1).astype(np.float32)
        examples.append(SeriesExample(values, label="sine" if i % 2 == 0 else "square"))
    return examples


def tagged_waves(count: int = 30, seed: int = 0) -> list[SeriesExample]:
    """One channel; each frame tagged "up" where the value is above 0.5, else "down"."""
    rng = np.random.default_rng(seed)
    examples = []
    for _ in range(count):
        values = rng.random((int(rng.integers(5, 20)), 1)).astype(np.float32)
        examples.append(SeriesExample(values, tags=["up" if v > 0.5 else "down" for v in values[:, 0]]))
    return examples


def values_config(task: str, **architecture):
    """A tiny model of series; one classifier, not the default ensemble of five (tests/ml/test_ensemble.py)."""
    single = {"ensemble": 1} if task == "classification" else {}
    return config_from_dict({"architecture": {**TINY, **architecture},
                             "training": {"epochs": 25, "batch_size": 8, "lr": 1e-2, "patience": 25, **single}},
                            task=task, input="values")


def test_the_normalizer_uses_the_training_frames_and_keeps_a_constant_feature():
    norm = Normalizer.fit([np.array([[1.0, 5.0], [3.0, 5.0]]), np.array([[5.0, 5.0]])])
    assert norm.mean.tolist() == pytest.approx([3.0, 5.0])
    assert norm.std[1] == 1.0                                   # constant: no division by zero
    assert norm(np.array([[3.0, 7.0]]))[0].tolist() == pytest.approx([0.0, 2.0])


def test_a_series_codec_round_trips_through_json():
    codec = SeriesClassificationCodec.fit(waves(), values_config("classification"))
    again = codec_from_dict(codec.to_dict())
    assert isinstance(again, SeriesClassificationCodec)
    assert again.features == 2 and again.labels.itos == codec.labels.itos
    example = waves(1)[0]
    assert torch.equal(again.encode(example)["values"], codec.encode(example)["values"])
    assert codec.sizes() == {"features": 2, "labels": 2}


@pytest.mark.parametrize(("conv", "fcn"), [(0, 0), (5, 0), (5, 8)])
def test_a_padded_batch_gives_each_series_what_it_gets_alone(conv, fcn):
    torch.manual_seed(0)
    config = values_config("classification", input_conv=conv, bidirectional=True, fcn=fcn)
    codec = SeriesClassificationCodec.fit(waves(), config)
    model = build_model(config, codec.sizes()).eval()
    items = [codec.encode(ex) for ex in waves(6)]
    together = model(**codec.collate(items))[0]
    for row, item in enumerate(items):
        alone = model(**codec.collate([item]))[0]
        assert torch.allclose(together[row], alone[0], atol=1e-5)


def test_a_tagger_over_frames_gets_gradients_and_scores_each_frame():
    config = values_config("tagging", input_conv=3, crf=True)
    codec = SeriesTaggingCodec.fit(tagged_waves(), config)
    model = build_model(config, codec.sizes())
    batch = codec.collate([codec.encode(ex) for ex in tagged_waves(4)])
    _, loss = model(**batch)
    loss.backward()
    assert all(p.grad is not None for p in model.encoder.embed.parameters())
    best, scores = model.predict(values=batch["values"], lengths=batch["lengths"])
    assert best.shape == batch["tags"].shape
    assert (scores[0, :batch["lengths"][0]] > 0).all()


def test_a_classifier_of_series_learns_saves_loads_and_predicts_the_same(tmp_path):
    torch.manual_seed(0)
    result = train(values_config("classification"), waves(60))
    assert result.config.data.input == "values"
    assert result.metrics["accuracy"] >= 0.8
    result.save(tmp_path / "v")
    version = load_version(tmp_path / "v")
    assert version.info["sizes"] == {"features": 2, "labels": 2}
    predictor = Predictor(version.model, version.codec, version.config)
    series = waves(4, seed=7)
    inputs = [{"values": ex.values.tolist()} for ex in series]
    first = Predictor(result.model, result.codec, result.config).predict(inputs)
    assert predictor.predict(inputs) == first
    assert set(first[0]) == {"label", "probabilities"}
    assert sum(first[0]["probabilities"].values()) == pytest.approx(1.0, abs=1e-4)


def test_a_tagger_of_series_predicts_one_tag_per_frame():
    torch.manual_seed(0)
    result = train(values_config("tagging"), tagged_waves(40))
    predictor = Predictor(result.model, result.codec, result.config)
    out = predictor.predict([{"values": [0.1, 0.9, 0.2]}, {"values": [[0.95]]}])
    assert [len(o["tags"]) for o in out] == [3, 1] and [len(o["scores"]) for o in out] == [3, 1]
    assert set(out[0]) == {"tags", "scores"}
    assert result.metrics["accuracy"] >= 0.8


@pytest.mark.parametrize(("raw", "expected"), [
    ("a text", "numeric series"),
    ({"values": []}, "numeric series"),
    ({"values": [[1.0, 2.0]], "extra": 1}, "numeric series"),
    ({"values": [[1.0]]}, "values[0]: the model takes 2 features per frame, this frame has 1"),
    ({"values": [1.0, 2.0]}, "values[0]: expected a frame of 2 numbers"),
    ({"values": [[1.0, None]]}, "values[0][1]: expected a finite number, not None"),
    ({"values": [[1.0, "nan"]]}, "values[0][1]: expected a finite number, not 'nan'"),
    ({"values": [[1.0, float("inf")]]}, "values[0][1]: expected a finite number, not inf"),
    ({"values": [[1.0, 1e39]]}, "expected a finite number"),
    ({"values": [[1.0, 10 ** 400]]}, "expected a finite number"),
    ({"values": [[True, 1.0]]}, "values[0][0]: expected a finite number, not True"),
    ({"values": [[1.0, 2.0], [1.0, "1.5"]]}, "values[1][1]: expected a finite number, not '1.5'"),   # numpy would
    ({"values": [[1.0, [2.0]]]}, "values[0][1]: expected a finite number, not [2.0]"),               # take these
])
def test_a_series_input_of_the_wrong_shape_names_the_input_and_the_place(raw, expected):
    config = values_config("classification")
    codec = SeriesClassificationCodec.fit(waves(), config)
    predictor = Predictor(build_model(config, codec.sizes()), codec, config)
    with pytest.raises(InputError, match=r"^inputs\[1\]: ") as caught:
        predictor.predict([{"values": [[1.0, 2.0]]}, raw])
    assert expected in str(caught.value)


def test_values_defaults_and_fields_of_one_input_kind():
    config = config_from_dict({}, task="classification", input="values")
    assert config.data.input == "values" and config.architecture.input_conv > 0
    assert config.training.max_length >= 10_000       # a long series is never cut in training
    text = config_from_dict({}, task="classification")
    assert text.architecture.input_conv == 0 and text.data.input is None
    assert (config.training.ensemble, text.training.ensemble) == (5, 1)     # five classifiers of series, one of text
    with pytest.raises(ConfigError, match="architecture.input_conv: applies to values input only"):
        config_from_dict({"architecture": {"input_conv": 3}}, task="classification", input="tokens")
    with pytest.raises(ConfigError, match="architecture.char_dim: applies to tokens input only"):
        config_from_dict({"architecture": {"char_dim": 8}}, task="tagging", input="values")
    with pytest.raises(ConfigError,
                       match="data.input: numeric series are for tagging, classification and forecasting"):
        config_from_dict({}, task="translation", input="values")
    assert config_from_dict(config.to_dict()) == config


def test_text_config_for_series_is_refused_by_name():
    with pytest.raises(ConfigError, match="data.input: is 'tokens' but the training data holds numeric series"):
        train(config_from_dict({"data": {"input": "tokens"}}, task="classification"), waves())


def test_the_dev_split_keeps_each_label_in_proportion():
    examples = [SeriesExample(np.zeros((2, 1), np.float32), label=label)
                for label in ["a"] * 90 + ["b"] * 8 + ["c"] * 2]
    train_part, dev = split_dev(examples, fraction=0.1, seed=13)
    counts = {label: sum(ex.label == label for ex in dev) for label in "abc"}
    assert counts["a"] == 9 and counts["b"] in (0, 1) and len(dev) == 10
    assert len(train_part) == 90
    assert split_dev(examples, fraction=0.1, seed=13)[1] == dev


def test_batches_of_series_group_similar_lengths():
    codec = SeriesClassificationCodec.fit(waves(), values_config("classification"))
    items = [codec.encode(ex) for ex in waves(16)]
    for _, batch in batches(items, codec, batch_size=4):
        assert batch["values"].shape[0] == len(batch["lengths"]) and batch["values"].shape[2] == 2


def test_the_convolutional_branch_joins_the_pooled_state_and_is_for_series_classifiers_only():
    config = values_config("classification", fcn=8)
    codec = SeriesClassificationCodec.fit(waves(), config)
    model = build_model(config, codec.sizes())
    assert model.head.in_features == model.encoder.out_dim + 8
    _, loss = model(**codec.collate([codec.encode(ex) for ex in waves(4)]))
    loss.backward()
    assert all(p.grad is not None for p in model.fcn.parameters())
    with pytest.raises(ConfigError, match="architecture.fcn: applies to classification only, not tagging"):
        config_from_dict({"architecture": {"fcn": 8}}, task="tagging", input="values")
    with pytest.raises(ConfigError, match="architecture.fcn: applies to values input only"):
        config_from_dict({"architecture": {"fcn": 8}}, task="classification", input="tokens")


def test_input_noise_perturbs_training_frames_only():
    torch.manual_seed(0)
    config = values_config("classification", input_noise=0.5)
    codec = SeriesClassificationCodec.fit(waves(), config)
    model = build_model(config, codec.sizes())
    batch = codec.collate([codec.encode(ex) for ex in waves(4)])
    model.eval()
    assert torch.equal(model(**batch)[0], model(**batch)[0])           # prediction is deterministic
    model.train()
    front = model.encoder.embed
    assert not torch.equal(front(batch["values"]), front(batch["values"]))
    with pytest.raises(ConfigError, match="architecture.input_noise: applies to values input only"):
        config_from_dict({"architecture": {"input_noise": 0.1}}, task="classification", input="tokens")


def test_the_branch_dropout_and_noise_act_in_training_only_and_are_for_series_classifiers_only():
    torch.manual_seed(0)
    batch_of = None
    for field in ("fcn_dropout", "fcn_noise"):
        config = values_config("classification", fcn=8, **{field: 0.5})
        codec = SeriesClassificationCodec.fit(waves(), config)
        model = build_model(config, codec.sizes())
        batch_of = codec.collate([codec.encode(ex) for ex in waves(4)])
        values, lengths = batch_of["values"], batch_of["lengths"]
        model.eval()
        assert torch.equal(model.fcn(values, lengths), model.fcn(values, lengths))   # prediction is deterministic
        model.train()
        assert not torch.equal(model.fcn(values, lengths), model.fcn(values, lengths)), field
        with pytest.raises(ConfigError, match=f"architecture.{field}: applies to values input only"):
            config_from_dict({"architecture": {field: 0.1}}, task="classification", input="tokens")
        with pytest.raises(ConfigError, match=f"architecture.{field}: applies to classification only"):
            config_from_dict({"architecture": {field: 0.1}}, task="tagging", input="values")
    plain = build_model(values_config("classification", fcn=8), codec.sizes())
    plain.train()
    assert torch.equal(plain.fcn(values, lengths), plain.fcn(values, lengths))       # off by default


def test_label_smoothing_is_in_a_classifiers_training_loss_not_its_dev_loss():
    config = values_config("classification", fcn=0, dropout=0.0)
    config.training.label_smoothing = 0.2
    codec = SeriesClassificationCodec.fit(waves(), config)
    batch = codec.collate([codec.encode(ex) for ex in waves(8)])
    torch.manual_seed(0)
    model = build_model(config, codec.sizes())
    model.eval()
    logits, dev_loss = model(**batch)
    assert torch.allclose(dev_loss, torch.nn.functional.cross_entropy(logits, batch["labels"]))
    model.train()
    logits, train_loss = model(**batch)
    assert torch.allclose(train_loss, torch.nn.functional.cross_entropy(logits, batch["labels"], label_smoothing=0.2))
    assert not torch.allclose(train_loss, dev_loss)
