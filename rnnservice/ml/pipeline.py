"""From examples and a config to a trained, saved model version: the one training path every caller uses."""
from __future__ import annotations

import dataclasses
import json
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from rnnservice.ml import tasks
from rnnservice.ml.artifacts import save_version
from rnnservice.ml.config import RunConfig, config_from_dict
from rnnservice.ml.data import Codec, batch_count, batches, codec_class, codec_from_dict
from rnnservice.ml.errors import ConfigError, MLError
from rnnservice.ml.formats import read_examples
from rnnservice.ml.formats.numeric import SeriesExample
from rnnservice.ml.models import build_model, vocab_sizes
from rnnservice.ml.predict import Predictor
from rnnservice.ml.runtime import DevCheck
from rnnservice.ml.training import Epoch, EpochHook, FitResult, fit


@dataclass
class TrainResult:
    model: nn.Module
    codec: Codec
    config: RunConfig                      # as trained: automatic choices (CRF on BIO tags) made concrete
    fit: FitResult
    metrics: dict[str, float]              # dev metrics of the best epoch
    split: dict[str, Any] = field(default_factory=dict)
    dev_check: DevCheck | None = None      # scores another runner (the int8 graph) on the same dev set

    def info(self) -> dict[str, Any]:
        return {"metrics": self.metrics, "best_epoch": self.fit.best_epoch, "split": self.split,
                "history": [e.to_dict() for e in self.fit.history], "labels": _labels(self.codec)}

    def save(self, folder: str | Path) -> str:
        """Write the model version folder; returns its sha256."""
        return save_version(folder, model=self.model, codec=self.codec, config=self.config, info=self.info(),
                            dev_check=self.dev_check)


def _labels(codec: Codec) -> list[str]:
    vocab = tasks.get(codec.task).output_vocab
    return list(getattr(codec, vocab).itos) if vocab else []


def resolve_device(name: str = "auto") -> torch.device:
    """`auto` takes CUDA when present; asking for CUDA on a machine without it is an error, not a fallback."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError as exc:
        raise ConfigError("device", f"must be auto, cpu, cuda or cuda:N, not {name!r}") from exc
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError("device", f"{name!r} was asked for but this machine has no CUDA device")
    if device.type not in ("cpu", "cuda"):
        raise ConfigError("device", f"must be auto, cpu, cuda or cuda:N, not {name!r}")
    return device


def load_examples(config: RunConfig, path: str | tuple[str, str], *, known_labels: set[str] | None = None) -> list:
    return read_examples(path, task=config.task, format=config.data.format, known_labels=known_labels,
                         **config.data.options)


def train(config: RunConfig, train_examples: Sequence, dev_examples: Sequence | None = None, *,
          device: torch.device | str = "cpu", checkpoint_dir: str | Path | None = None,
          on_epoch: EpochHook | None = None, progress: bool = False) -> TrainResult:
    """Fit vocabularies and a model, train with early stopping on the dev split, keep the best epoch.

    With no dev examples a seeded split of the training examples is made and recorded. With a
    `checkpoint_dir` that already holds a checkpoint of the same config, training resumes from it.
    """
    if not train_examples:
        raise MLError("the training data holds no examples")
    device = torch.device(device)
    task = tasks.get(config.task)
    train_examples, dev_examples, split = task.split(config, train_examples, dev_examples)
    config = _with_input(config, train_examples)
    config, metric = task.prepare(config, train_examples)
    cfg = config.training
    torch.manual_seed(cfg.seed)
    random.seed(cfg.seed)
    codec = _codec(config, train_examples, dev_examples, checkpoint_dir)
    train_examples = task.gold_examples(config, codec, train_examples, training=True)
    dev_examples = task.gold_examples(config, codec, dev_examples)
    split.update(train_examples=len(train_examples), dev_examples=len(dev_examples))
    # An ensemble's members (training.ensemble) are built and trained one after another, each as a model alone
    # would be with a seed of its own (the first with the run's seed: it is the model a run without an ensemble
    # trains), each stopped on the dev split and resumed from a checkpoint of its own; their epochs are numbered
    # on from the member before.
    count = cfg.ensemble
    single = dataclasses.replace(config, training=dataclasses.replace(cfg, ensemble=1))
    model = build_model(single, vocab_sizes(codec))
    arranged = task.train_batches(config, codec, train_examples)     # a language model's running text
    if arranged is None:
        items = [codec.encode(ex, max_length=cfg.max_length) for ex in train_examples]
        steps = batch_count(items, cfg.batch_size)
    dev_prepared: list = []                        # encoded at the first dev score, once
    options = Predictor(model, codec, config, device=device).options(task.dev_options(config))

    def dev_score_of(scored: nn.Module) -> Callable[[nn.Module], tuple[dict[str, float], float | None]]:
        predictor = Predictor(scored, codec, config, device=device)

        def dev_score(_model: nn.Module) -> tuple[dict[str, float], float | None]:
            direct = task.evaluate(scored, codec, config, dev_examples, device)
            if direct is not None:
                return direct, None
            if not dev_prepared:
                dev_prepared.extend(predictor.prepare_examples(dev_examples))
            outputs = predictor.run(dev_prepared, options)
            return predictor.score(dev_examples, outputs), predictor.dev_loss(dev_examples, outputs)
        return dev_score

    members, results = [model], []
    for index in range(count):
        seed = cfg.seed + index
        if index:
            torch.manual_seed(seed)
            random.seed(seed)
            members.append(build_model(single, vocab_sizes(codec)))
        member = members[index]
        if arranged is None:
            def epoch_batches(epoch: int, seed: int = seed):
                return (batch for _, batch in batches(items, codec, batch_size=cfg.batch_size, shuffle=True,
                                                      seed=seed * 100_003 + epoch))
        else:
            epoch_batches, steps = arranged
        kept = None if checkpoint_dir is None else Path(checkpoint_dir) / (
            "last" if count == 1 else f"member-{index + 1}")
        results.append(fit(member, epoch_batches, steps, dev_score_of(member), cfg, metric=metric,
                           lower_is_better=metric in task.lower_is_better, device=device, checkpoint_dir=kept,
                           on_epoch=_numbered(on_epoch, results, ensemble=count > 1),
                           progress=progress))
    if count == 1:
        result = results[0]
        metrics = result.history[result.best_epoch - 1].dev
    else:
        with torch.device("meta"):                 # the ensemble's frame: its members are those just trained
            model = build_model(config, vocab_sizes(codec))
        model.members = nn.ModuleList(members)
        result, metrics = _ensemble_result(results), dev_score_of(model)(model)[0]
        split["members"] = [{"seed": cfg.seed + i, "best_epoch": r.best_epoch,
                             "dev": r.history[r.best_epoch - 1].dev} for i, r in enumerate(results)]
    model.eval()

    def runner_score(runner: Any) -> dict[str, float]:
        scorer = Predictor(getattr(runner, "module", model), codec, config, device="cpu", runner=runner)
        if not dev_prepared:
            dev_prepared.extend(scorer.prepare_examples(dev_examples))
        return scorer.score(dev_examples, scorer.run(dev_prepared, options))
    check = DevCheck(runner_score, metric, lower_is_better=metric in task.lower_is_better)
    return TrainResult(model, codec, config, result, metrics, {**split, "metric": metric}, check)


def _member_epoch(epoch: Epoch, before: list[FitResult]) -> Epoch:
    """An ensemble member's epoch, numbered on from the epochs of the members `before` it."""
    return dataclasses.replace(epoch, epoch=sum(len(r.history) for r in before) + epoch.epoch,
                               member=len(before) + 1)


def _numbered(on_epoch: EpochHook | None, before: list[FitResult], ensemble: bool) -> EpochHook | None:
    """The hook, for an ensemble's member: its epochs numbered on from those of the members before it."""
    if on_epoch is None or not ensemble:
        return on_epoch
    before = list(before)                          # the members trained so far, not those trained later
    return lambda epoch: on_epoch(_member_epoch(epoch, before))


def _ensemble_result(results: list[FitResult]) -> FitResult:
    """One FitResult of the members': every epoch, numbered on as the hook numbered them; the best is the last
    member's best (each member keeps its own best epoch's weights)."""
    history = [_member_epoch(epoch, results[:i]) for i, result in enumerate(results) for epoch in result.history]
    last = results[-1]
    best = _member_epoch(last.history[last.best_epoch - 1], results[:-1]).epoch
    return FitResult(history, best, last.best_score, last.stopped_early, last.best_loss)


def _with_input(config: RunConfig, examples: Sequence) -> RunConfig:
    """`data.input` made concrete from the examples; a config written for the other kind is an error."""
    found = "values" if isinstance(examples[0], SeriesExample) else "tokens"
    if config.data.input not in (None, found):
        raise ConfigError("data.input", f"is {config.data.input!r} but the training data holds "
                                        f"{'numeric series' if found == 'values' else 'text'}")
    return dataclasses.replace(config, data=dataclasses.replace(config.data, input=found))


def _codec(config: RunConfig, examples: Sequence, dev: Sequence, checkpoint_dir: str | Path | None) -> Codec:
    """Vocabularies are learned once per run and kept beside the checkpoint, so a resumed run reuses them."""
    fit = codec_class(config.task, config.data.input).fit
    if checkpoint_dir is None:
        return fit(examples, config, dev)
    folder = Path(checkpoint_dir)
    saved = folder / "run.json"
    if saved.exists():
        run = json.loads(saved.read_text(encoding="utf-8"))
        if run["config"] != config.to_dict():
            raise MLError(f"{folder} holds a checkpoint of another configuration; use a new checkpoint folder")
        return codec_from_dict(run["codec"])
    codec = fit(examples, config, dev)
    folder.mkdir(parents=True, exist_ok=True)
    saved.write_text(json.dumps({"config": config.to_dict(), "codec": codec.to_dict()}, ensure_ascii=False))
    return codec


__all__ = ["TrainResult", "config_from_dict", "load_examples", "resolve_device", "train"]
