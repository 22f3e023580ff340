"""The training loop: AdamW, warm-up + decay, clipping, AMP on CUDA, weight averaging, early stopping,
checkpoints, resume."""
from __future__ import annotations

import json
import math
import os
import shutil
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from torch import Tensor, nn
from tqdm import tqdm

from rnnservice.ml.config import TrainConfig
from rnnservice.ml.errors import ArtifactError

Batch = dict[str, Tensor]


@dataclass
class Epoch:
    epoch: int
    train_loss: float
    dev: dict[str, float]         # dev metrics, e.g. {"accuracy": 0.95}
    tokens_per_s: float           # input tokens through the training step per second
    seconds: float                # the whole epoch, dev scoring included
    lr: float
    is_best: bool = False
    dev_loss: float | None = None  # classification: mean -log p(gold label) on dev; breaks ties of the metric
    member: int | None = None      # an ensemble's (training.ensemble): which member trained, from 1

    def to_dict(self) -> dict:
        row = {"epoch": self.epoch, **({"member": self.member} if self.member is not None else {}),
               "train_loss": round(self.train_loss, 5)}
        row.update({f"dev_{k}": round(v, 5) for k, v in self.dev.items()})
        if self.dev_loss is not None:
            row["dev_loss"] = round(self.dev_loss, 5)
        row.update(tokens_per_s=round(self.tokens_per_s, 1), seconds=round(self.seconds, 2), lr=self.lr,
                   is_best=self.is_best)
        return row


@dataclass
class FitResult:
    history: list[Epoch] = field(default_factory=list)
    best_epoch: int = 0
    best_score: float = float("-inf")
    stopped_early: bool = False
    best_loss: float | None = None       # the dev loss of the best epoch, when the scorer gives one


# A tie of the dev metric counts as better when the dev loss falls by more than this: on a dev split of 4 to 50
# examples, accuracy stalls at the first epoch that reaches its best, long before the model is trained.
TIE_LOSS_DELTA = 1e-3


EpochHook = Callable[[Epoch], None]          # may raise TrainingStopped to end the run (cancel)


def lr_factor(step: int, total: int, cfg: TrainConfig) -> float:
    """Linear warm-up, then constant, linear or cosine decay to zero at the last planned step."""
    warm = max(1, int(total * cfg.warmup))
    if step < warm:
        return (step + 1) / warm
    progress = min(1.0, (step - warm) / max(1, total - warm))
    if cfg.schedule == "linear":
        return 1.0 - progress
    if cfg.schedule == "cosine":
        return 0.5 * (1.0 + math.cos(math.pi * progress))
    return 1.0


class WeightAverage:
    """An exponential moving average of a model's parameters, updated after every optimizer step (Polyak
    averaging, OpenNMT's `average_decay`): the average of the last ~1/(1 - decay) steps usually scores better than
    the weights of the last step, which carry that step's noise. The decay starts low, (1 + n) / (10 + n) after
    n steps, as in TensorFlow's ExponentialMovingAverage: an average that started from the random initial
    weights would remember them for thousands of steps. (torch's AveragedModel reads its step count from a
    tensor every step, a GPU sync per step; the count here is a Python int.)"""

    def __init__(self, model: nn.Module, decay: float):
        self.decay, self.steps = decay, 0
        self.params = [p.detach().clone() for p in model.parameters()]

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        self.steps += 1
        rate = 1 - min(self.decay, (1 + self.steps) / (10 + self.steps))
        # One fused call over all parameters, as torch's own EMA helper (swa_utils.get_ema_multi_avg_fn) makes.
        torch._foreach_lerp_(self.params, [p.detach() for p in model.parameters()], rate)

    @contextmanager
    def applied(self, model: nn.Module) -> Iterator[None]:
        """`model` holds the averaged parameters inside the block, and its own again after it."""
        live = [p.detach().clone() for p in model.parameters()]
        _copy(self.params, into=model.parameters())
        try:
            yield
        finally:
            _copy(live, into=model.parameters())

    def state_dict(self) -> dict[str, Tensor]:
        return {**{str(i): p for i, p in enumerate(self.params)}, "steps": torch.tensor(self.steps)}

    def load_state_dict(self, state: dict[str, Tensor]) -> None:
        _copy([state[str(i)] for i in range(len(self.params))], into=self.params)
        self.steps = int(state["steps"])


@torch.no_grad()
def _copy(sources: Iterable[Tensor], *, into: Iterable[Tensor]) -> None:
    for target, source in zip(into, sources, strict=True):
        target.copy_(source)


def fit(model: nn.Module, train: Callable[[int], Iterable[Batch]], steps_per_epoch: int,
        score: Callable[[nn.Module], dict[str, float] | tuple[dict[str, float], float | None]], cfg: TrainConfig,
        *, metric: str, lower_is_better: bool = False,
        device: torch.device, checkpoint_dir: Path | None = None, on_epoch: EpochHook | None = None,
        progress: bool = False) -> FitResult:
    """Train `model` in place; on return it holds the weights of the best dev epoch.

    `train(epoch)` yields that epoch's batches (seeded by the caller); `score(model)` returns dev metrics, of
    which `metric` decides early stopping (higher is better unless `lower_is_better`: mse, perplexity), or
    (metrics, dev loss): a lower loss then breaks a tie. With
    `cfg.average_decay`, the model holds the moving average of its weights while it is scored, and the best
    epoch's average is what it keeps. With `checkpoint_dir`, a checkpoint is written after every epoch and an
    existing one is resumed from, so a killed run continues where it was.
    """
    model.to(device)
    # The fused kernel updates every parameter in one pass: six times faster than the default on a CPU
    # (bench/RESULTS.md, "Training speed"), and the same arithmetic.
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay, fused=True)
    use_amp = cfg.amp and device.type == "cuda"
    amp_dtype = torch.bfloat16 if use_amp and torch.cuda.is_bf16_supported() else torch.float16
    scaler = torch.amp.GradScaler("cuda", enabled=use_amp and amp_dtype == torch.float16)
    total_steps = cfg.epochs * steps_per_epoch
    average = WeightAverage(model, cfg.average_decay) if cfg.average_decay else None
    result, best_state, stale = FitResult(), None, 0
    if checkpoint_dir is not None:
        previous = checkpoint_dir.with_name(checkpoint_dir.name + ".old")
        if not checkpoint_dir.exists() and previous.exists():    # killed between the two renames
            os.replace(previous, checkpoint_dir)
        if (checkpoint_dir / "trainer.json").exists():
            result, stale, best_state = load_checkpoint(checkpoint_dir, model, opt, device, average)
    if not result.history and lower_is_better:
        result.best_score = float("inf")
    start = len(result.history) + 1
    if result.stopped_early or start > cfg.epochs:
        _restore(model, best_state)
        return result
    for number in range(start, cfg.epochs + 1):
        began = time.perf_counter()
        model.train()
        total = torch.zeros((), device=device)
        tokens, steps = 0, 0
        step = (number - 1) * steps_per_epoch
        for batch in tqdm(train(number), total=steps_per_epoch, desc=f"epoch {number}", leave=False,
                          disable=not progress, unit="batch"):
            for group in opt.param_groups:
                group["lr"] = cfg.lr * lr_factor(step + steps, total_steps, cfg)
            tokens += int(batch["lengths"].sum())                 # lengths live on the CPU: no sync
            batch = {k: v.to(device, non_blocking=True) for k, v in batch.items()}
            with torch.autocast(device.type, dtype=amp_dtype, enabled=use_amp):
                _, loss = model(**batch)
            opt.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            scaler.unscale_(opt)                       # clip the real gradients, not the scaled ones
            nn.utils.clip_grad_norm_(model.parameters(), cfg.clip)
            scaler.step(opt)
            scaler.update()
            if average is not None:
                average.update(model)
            total += loss.detach()                     # no .item() per step: it would sync the GPU
            steps += 1
        trained = time.perf_counter() - began
        model.eval()                                   # dev scores without dropout
        with average.applied(model) if average is not None else nullcontext():
            scored = score(model)
            dev, dev_loss = scored if isinstance(scored, tuple) else (scored, None)
            value = dev[metric]
            better = value < result.best_score if lower_is_better else value > result.best_score
            is_best = better or (
                value == result.best_score and dev_loss is not None and result.best_loss is not None
                and dev_loss < result.best_loss - TIE_LOSS_DELTA)
            if is_best:
                result.best_score, result.best_epoch, result.best_loss, stale = value, number, dev_loss, 0
                best_state = {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}
            else:
                stale += 1
        epoch = Epoch(number, total.item() / max(steps, 1), dev, tokens / max(trained, 1e-9),
                      time.perf_counter() - began, opt.param_groups[0]["lr"], is_best, dev_loss)
        result.history.append(epoch)
        result.stopped_early = stale >= cfg.patience
        if checkpoint_dir is not None:
            save_checkpoint(checkpoint_dir, model, opt, result, stale, best_state, average)
        if on_epoch is not None:
            on_epoch(epoch)                            # progress row, cancel check: may raise TrainingStopped
        if result.stopped_early:
            break
    _restore(model, best_state)
    return result


def _restore(model: nn.Module, state: dict[str, Tensor] | None) -> None:
    if state is not None:
        model.load_state_dict(state)


def _tensors(state: dict[str, Tensor]) -> dict[str, Tensor]:
    # safetensors refuses tensors that share memory (tied embeddings): store independent copies.
    return {k: v.detach().to("cpu").contiguous().clone() for k, v in state.items()}


def save_checkpoint(folder: Path, model: nn.Module, opt: torch.optim.Optimizer, result: FitResult,
                    stale: int, best_state: dict[str, Tensor] | None, average: WeightAverage | None = None) -> None:
    """Weights, best weights, optimizer state and RNG as safetensors, the rest as JSON; never pickle.

    Written to a fresh folder that then replaces the old one, so a kill mid-write leaves the previous
    checkpoint whole.
    """
    folder = Path(folder)
    tmp = folder.with_name(folder.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    save_file(_tensors(model.state_dict()), tmp / "model.safetensors")
    if best_state is not None:
        save_file(_tensors(best_state), tmp / "best.safetensors")
    if average is not None:
        save_file(_tensors(average.state_dict()), tmp / "average.safetensors")
    opt_state = opt.state_dict()
    tensors = {f"{i}.{name}": value for i, slots in opt_state["state"].items()
               for name, value in slots.items() if isinstance(value, Tensor)}
    save_file(_tensors(tensors) if tensors else {"_": torch.zeros(0)}, tmp / "optimizer.safetensors")
    rng = {"cpu": torch.get_rng_state()}
    if torch.cuda.is_available():
        rng["cuda"] = torch.cuda.get_rng_state()
    save_file(rng, tmp / "rng.safetensors")
    trainer = {"history": [asdict(e) for e in result.history], "best_epoch": result.best_epoch,
               "best_score": result.best_score, "best_loss": result.best_loss,
               "stopped_early": result.stopped_early, "stale": stale,
               "param_groups": opt_state["param_groups"]}
    (tmp / "trainer.json").write_text(json.dumps(trainer))
    old = folder.with_name(folder.name + ".old")
    shutil.rmtree(old, ignore_errors=True)
    if folder.exists():
        os.replace(folder, old)
    os.replace(tmp, folder)
    shutil.rmtree(old, ignore_errors=True)


def load_checkpoint(folder: Path, model: nn.Module, opt: torch.optim.Optimizer, device: torch.device,
                    average: WeightAverage | None = None) -> tuple[FitResult, int, dict[str, Tensor] | None]:
    """Restore what save_checkpoint wrote; a damaged checkpoint is an ArtifactError, never a guess."""
    folder = Path(folder)
    try:
        trainer = json.loads((folder / "trainer.json").read_text())
        model.load_state_dict(load_file(folder / "model.safetensors", device=str(device)))
        best = load_file(folder / "best.safetensors") if (folder / "best.safetensors").exists() else None
        flat = load_file(folder / "optimizer.safetensors", device=str(device))
        state: dict[int, dict[str, Tensor]] = {}
        for key, value in flat.items():
            if key != "_":
                index, name = key.split(".", 1)
                state.setdefault(int(index), {})[name] = value
        opt.load_state_dict({"state": state, "param_groups": trainer["param_groups"]})
        if average is not None:
            average.load_state_dict(load_file(folder / "average.safetensors", device=str(device)))
        rng = load_file(folder / "rng.safetensors")
        torch.set_rng_state(rng["cpu"])
        if "cuda" in rng and torch.cuda.is_available():
            torch.cuda.set_rng_state(rng["cuda"])
    except (OSError, ValueError, KeyError, RuntimeError) as exc:
        raise ArtifactError(f"checkpoint {folder} cannot be resumed: {exc}") from exc
    history = [Epoch(**e) for e in trainer["history"]]
    result = FitResult(history, trainer["best_epoch"], trainer["best_score"], trainer["stopped_early"],
                       trainer.get("best_loss"))     # checkpoints written before ties were broken lack it
    return result, trainer["stale"], best
