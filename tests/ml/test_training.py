"""Tests for rnnservice.ml.training through pipeline.train: seeds, checkpoints and resume, splits, early stopping."""
from __future__ import annotations

import dataclasses

import pytest
import torch
from safetensors.torch import load_file

from rnnservice.ml.config import TrainConfig
from rnnservice.ml.data import batch_count, batches, split_dev
from rnnservice.ml.errors import MLError, TrainingStopped
from rnnservice.ml.pipeline import train
from rnnservice.ml.predict import Predictor
from rnnservice.ml.training import Epoch, fit, lr_factor


def weights(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def assert_same_weights(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> None:
    assert a.keys() == b.keys()
    different = [k for k in a if not torch.equal(a[k], b[k])]
    assert not different, f"tensors differ: {different}"


def stop_after(epochs: int):
    def on_epoch(epoch: Epoch) -> None:
        if epoch.epoch >= epochs:
            raise TrainingStopped("cancelled")
    return on_epoch


def test_it_repeats_a_run_exactly_with_the_same_seed(tiny_config, examples):
    config = tiny_config("tagging", training={"word_dropout": 0.2})     # dropout draws random numbers too

    first = train(config, examples("tagging"))
    second = train(config, examples("tagging"))

    assert_same_weights(weights(first.model), weights(second.model))
    assert [e.train_loss for e in first.fit.history] == [e.train_loss for e in second.fit.history]


def test_it_gives_different_weights_for_another_seed(tiny_config, examples):
    first = train(tiny_config("classification"), examples("classification"))
    second = train(tiny_config("classification", training={"seed": 14}), examples("classification"))

    assert not torch.equal(first.model.head.weight, second.model.head.weight)


def test_it_resumes_a_stopped_run_to_the_same_weights_as_a_straight_run(tiny_config, examples, tmp_path):
    config = tiny_config("tagging", training={"epochs": 3})
    straight = train(config, examples("tagging"), checkpoint_dir=tmp_path / "straight")

    with pytest.raises(TrainingStopped):
        train(config, examples("tagging"), checkpoint_dir=tmp_path / "resumed", on_epoch=stop_after(1))
    seen = []
    resumed = train(config, examples("tagging"), checkpoint_dir=tmp_path / "resumed", on_epoch=seen.append)

    assert [e.epoch for e in seen] == [2, 3]                            # epoch 1 is not trained again
    assert_same_weights(weights(straight.model), weights(resumed.model))
    assert_same_weights(load_file(tmp_path / "straight" / "last" / "model.safetensors"),
                        load_file(tmp_path / "resumed" / "last" / "model.safetensors"))
    assert [e.train_loss for e in resumed.fit.history] == [e.train_loss for e in straight.fit.history]
    assert resumed.fit.best_epoch == straight.fit.best_epoch


def test_it_returns_at_once_when_the_checkpoint_holds_a_finished_run(tiny_config, examples, tmp_path):
    config = tiny_config("classification")
    first = train(config, examples("classification"), checkpoint_dir=tmp_path)
    seen = []

    again = train(config, examples("classification"), checkpoint_dir=tmp_path, on_epoch=seen.append)

    assert seen == []
    assert_same_weights(weights(first.model), weights(again.model))


def test_it_writes_checkpoints_of_safetensors_and_json_only(tiny_config, examples, tmp_path):
    train(tiny_config("translation", training={"epochs": 1}), examples("translation"), checkpoint_dir=tmp_path)

    files = [p for p in tmp_path.rglob("*") if p.is_file()]
    names = {p.relative_to(tmp_path).as_posix() for p in files}

    assert {"last/model.safetensors", "last/optimizer.safetensors", "last/trainer.json", "run.json"} <= names
    assert all(p.suffix in (".safetensors", ".json") for p in files), names
    assert [p.name for p in tmp_path.parent.iterdir() if p.name.startswith(tmp_path.name + ".")] == []


def test_it_makes_and_records_a_seeded_dev_split_when_no_dev_set_is_given(tiny_config, examples):
    config = tiny_config("classification", training={"epochs": 1})
    data = examples("classification")

    first = train(config, data)
    second = train(config, data)

    assert first.split["dev"] == "split"
    assert (first.split["dev_fraction"], first.split["split_seed"]) == (0.1, 13)
    assert first.split["train_examples"] + first.split["dev_examples"] == len(data)
    assert first.split["dev_examples"] == round(len(data) * 0.1)
    assert first.split == second.split


def test_it_splits_the_same_way_for_the_same_seed_and_otherwise_differently():
    data = list(range(50))

    train_a, dev_a = split_dev(data, fraction=0.2, seed=1)
    train_b, dev_b = split_dev(data, fraction=0.2, seed=1)
    _, dev_c = split_dev(data, fraction=0.2, seed=2)

    assert (train_a, dev_a) == (train_b, dev_b)
    assert len(dev_a) == 10 and sorted(train_a + dev_a) == data
    assert dev_c != dev_a


def test_it_records_a_given_dev_set_as_given(tiny_config, examples):
    data = examples("tagging")

    result = train(tiny_config("tagging", training={"epochs": 1}), data[:20], data[20:])

    assert result.split["dev"] == "given"
    assert (result.split["train_examples"], result.split["dev_examples"]) == (20, 4)
    assert result.split["metric"] == "entity_f1"                 # BIO tags: scored by entities
    assert result.config.architecture.crf is True                # and a CRF was switched on


def test_it_stops_early_when_the_dev_score_does_not_improve(tiny_config, examples):
    # At the smallest learning rate the predictions, and so the dev score, cannot change between epochs.
    config = tiny_config("classification", training={"epochs": 6, "patience": 1, "lr": 1e-7})

    result = train(config, examples("classification"))

    assert result.fit.stopped_early
    assert len(result.fit.history) == 2
    assert result.fit.best_epoch == 1
    assert [e.is_best for e in result.fit.history] == [True, False]


def test_a_tie_of_the_dev_metric_goes_to_the_epoch_with_the_lower_dev_loss():
    # Small dev splits stall at their best accuracy from an early epoch on; the dev loss still tells a model that
    # learned more from one that has just crossed the line.
    class Model(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.linear = torch.nn.Linear(2, 2)

        def forward(self, x, lengths):
            return None, self.linear(x).sum()

    model = Model()
    batch = {"lengths": torch.tensor([1]), "x": torch.ones(1, 2)}
    scores = iter([({"accuracy": 1.0}, 0.5), ({"accuracy": 1.0}, 0.3), ({"accuracy": 1.0}, 0.2995),
                   ({"accuracy": 0.9}, 0.1)])
    result = fit(model, lambda epoch: [batch], 1, lambda m: next(scores), TrainConfig(epochs=4, patience=5),
                 metric="accuracy", device=torch.device("cpu"))

    assert [e.is_best for e in result.history] == [True, True, False, False]   # 0.2995: within the tie margin
    assert result.best_epoch == 2 and result.best_loss == 0.3
    assert result.history[1].to_dict()["dev_loss"] == 0.3


def test_it_keeps_the_weights_of_the_best_epoch(tiny_config, examples, tmp_path):
    config = tiny_config("classification", training={"epochs": 6, "patience": 1, "lr": 1e-7})

    result = train(config, examples("classification"), checkpoint_dir=tmp_path)

    assert_same_weights(weights(result.model), load_file(tmp_path / "last" / "best.safetensors"))
    assert result.metrics == result.fit.history[0].dev


def test_it_warms_the_learning_rate_up_then_decays_it_to_zero():
    cfg = TrainConfig(schedule="cosine", warmup=0.1)
    factors = [lr_factor(step, 100, cfg) for step in range(100)]

    assert factors[0] == pytest.approx(0.1)
    assert factors[:10] == sorted(factors[:10])                  # rising during the warm-up
    assert factors[9] == pytest.approx(1.0)
    assert factors[10:] == sorted(factors[10:], reverse=True)    # then only falling
    assert factors[-1] < 0.01
    assert lr_factor(100, 100, cfg) == pytest.approx(0.0)


@pytest.mark.parametrize("schedule, halfway", [("linear", 0.5), ("cosine", 0.5), ("constant", 1.0)])
def test_it_follows_each_schedule_after_the_warm_up(schedule, halfway):
    cfg = TrainConfig(schedule=schedule, warmup=0.0)

    assert lr_factor(0, 101, cfg) == pytest.approx(1.0)
    assert lr_factor(51, 101, cfg) == pytest.approx(halfway)
    assert lr_factor(101, 101, cfg) == pytest.approx(0.0 if schedule != "constant" else 1.0)


def test_it_reports_each_epoch_to_the_hook(tiny_config, examples):
    seen: list[Epoch] = []

    train(tiny_config("classification"), examples("classification"), on_epoch=seen.append)

    assert [e.epoch for e in seen] == [1, 2]
    row = seen[0].to_dict()
    assert {"epoch", "train_loss", "dev_accuracy", "dev_macro_f1", "tokens_per_s", "seconds", "lr"} <= row.keys()
    assert seen[0].tokens_per_s > 0 and seen[0].train_loss > 0


def test_it_refuses_to_resume_a_checkpoint_of_another_config(tiny_config, examples, tmp_path):
    config = tiny_config("tagging", training={"epochs": 1})
    train(config, examples("tagging"), checkpoint_dir=tmp_path)
    other = dataclasses.replace(config, training=dataclasses.replace(config.training, lr=1e-3))

    with pytest.raises(MLError, match="another configuration"):
        train(other, examples("tagging"), checkpoint_dir=tmp_path)


def test_it_refuses_an_empty_training_set(tiny_config):
    with pytest.raises(MLError, match="no examples"):
        train(tiny_config("tagging"), [])


def test_it_scores_the_dev_set_with_dropout_off(tiny_config, examples, monkeypatch):
    config = tiny_config("tagging", architecture={"dropout": 0.5}, training={"epochs": 2, "word_dropout": 0.5})
    modes = []
    score = Predictor.score

    def score_and_record_mode(self, dev, outputs):               # calls through: only records the mode
        modes.append(self.model.training)
        return score(self, dev, outputs)

    monkeypatch.setattr(Predictor, "score", score_and_record_mode)
    dev = examples("tagging")[:8]
    result = train(config, examples("tagging"), dev)

    assert modes == [False, False]
    # the recorded dev metrics are those of the weights kept, scored as a user would score them
    assert result.metrics == Predictor(result.model, result.codec, result.config).evaluate(dev)


def test_averaging_the_weights_leaves_training_itself_unchanged(tiny_config, examples, tmp_path):
    # The average is scored and kept, but the optimizer steps on the live weights, as without averaging.
    plain = tiny_config("tagging", training={"epochs": 3})
    averaged = tiny_config("tagging", training={"epochs": 3, "average_decay": 0.9})

    without = train(plain, examples("tagging"), checkpoint_dir=tmp_path / "plain")
    with_average = train(averaged, examples("tagging"), checkpoint_dir=tmp_path / "averaged")

    assert_same_weights(load_file(tmp_path / "plain" / "last" / "model.safetensors"),
                        load_file(tmp_path / "averaged" / "last" / "model.safetensors"))
    assert [e.train_loss for e in with_average.fit.history] == [e.train_loss for e in without.fit.history]
    assert not torch.equal(with_average.model.head.weight, without.model.head.weight)


def test_it_keeps_and_scores_the_averaged_weights(tiny_config, examples, tmp_path):
    config = tiny_config("tagging", training={"epochs": 1, "average_decay": 0.9})
    data = examples("tagging")

    result = train(config, data[:20], data[20:], checkpoint_dir=tmp_path)

    kept, average = weights(result.model), load_file(tmp_path / "last" / "average.safetensors")
    live = load_file(tmp_path / "last" / "model.safetensors")
    names = [name for name, _ in result.model.named_parameters()]
    assert_same_weights({name: kept[name] for name in names}, {name: average[str(i)] for i, name in enumerate(names)})
    assert not torch.equal(kept["head.weight"], live["head.weight"])
    assert int(average["steps"]) == 20 // 4                         # one update per optimizer step
    rescored = Predictor(result.model, result.codec, result.config).evaluate(data[20:])
    assert rescored == pytest.approx(result.metrics)                # the dev score is the kept weights' score


def test_it_resumes_an_averaged_run_to_the_same_weights_as_a_straight_run(tiny_config, examples, tmp_path):
    config = tiny_config("classification", training={"epochs": 3, "average_decay": 0.8})
    straight = train(config, examples("classification"), checkpoint_dir=tmp_path / "straight")

    with pytest.raises(TrainingStopped):
        train(config, examples("classification"), checkpoint_dir=tmp_path / "resumed", on_epoch=stop_after(1))
    resumed = train(config, examples("classification"), checkpoint_dir=tmp_path / "resumed")

    assert_same_weights(weights(straight.model), weights(resumed.model))
    assert_same_weights(load_file(tmp_path / "straight" / "last" / "average.safetensors"),
                        load_file(tmp_path / "resumed" / "last" / "average.safetensors"))


def test_batches_hold_one_length_where_there_are_enough_and_the_leftovers_of_each_length_together():
    class Codec:
        def collate(self, items):
            return {"lengths": torch.tensor([len(i["ids"]) for i in items])}

    lengths = [3] * 9 + [5] * 4 + [7] * 2 + [9]
    items = [{"ids": [0] * n} for n in lengths]
    for shuffle in (False, True):
        got = [batch["lengths"].tolist() for _, batch in batches(items, Codec(), batch_size=4, shuffle=shuffle)]
        exact = sorted(b for b in got if len(set(b)) == 1 and len(b) == 4)
        assert exact == [[3] * 4, [3] * 4, [5] * 4]                  # every full batch of one length
        assert sorted(n for b in got if b not in exact for n in b) == [3, 7, 7, 9]   # leftovers, together
        assert len(got) == batch_count(items, 4) == 4
    again = [g for g, _ in batches(items, Codec(), batch_size=4, shuffle=True, seed=3)]
    assert again == [g for g, _ in batches(items, Codec(), batch_size=4, shuffle=True, seed=3)]
