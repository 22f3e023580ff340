"""A faster runtime for the versions that export: ONNX Runtime in place of PyTorch eager (issue 19).

At save, a tagging or classification model (of text or of numeric series, an ensemble of classifiers included:
the graph then averages its members' probabilities) is exported to `model.onnx` with the TorchScript exporter
(`torch.onnx.export(..., dynamo=False)`: packed sequences become ONNX's `sequence_lens`, so padding never changes an
output; the dynamo exporter of torch 2.13 fails on them), then checked: ONNX Runtime on padded batches of mixed
lengths against PyTorch in eval mode on each input alone, the same argmax at every position and probabilities within
CHECK_TOLERANCE (1e-4, the issue's bound on served scores). Trained models pass with room to spare: float32 rounding
puts both sides within 2e-6 of a float64 reference even for a trained default tagger. The one trap is the
exporter's: it sets the module it is given back to that module's training mode after tracing, so the wrapper it gets
(_Logits) is made in eval mode; a wrapper in training mode once left the reference with its word dropout on, and
every trained version was refused. Both are timed on one input (and on a batch), and the result goes into the
version's config.json as "runtime":

    {"runtime": "onnx" | "torch", "onnx": {"checked": true, "max_difference": 2e-07,
     "ms_batch_1": {"torch": 2.9, "onnx": 1.3}, ...}}      # or {"onnx": {"exported": false, "reason": "..."}}

"runtime" is ONNX Runtime where the check passed and it was faster both on one input and on a batch of 16 of one
length, else "torch". Serving (SERVING_RUNTIME) uses the recorded
choice ("auto"), or PyTorch always ("torch"), or ONNX Runtime wherever the check passed ("onnx"). The ONNX graph
gives the model's logits; decoding (softmax, the CRF's Viterbi path) stays in PyTorch, unchanged. CPU only: on a
GPU, PyTorch serves.

With `training.quantize`, a checked export is also quantised (ONNX Runtime's dynamic int8 quantisation: int8
weights for the LSTM, the linear layers, the embeddings and the convolutions; activations quantised per call) into
`model.int8.onnx`. Its outputs are not PyTorch's to 1e-4 (that is the point), so its check is the dev set: the
version records the dev metrics of the float and the int8 graph and their change ("onnx"."int8"), and "runtime"
becomes "onnx_int8" only where the task's metric lost at most INT8_TOLERANCE and int8 was faster than the runtime
chosen otherwise, on one input and on a batch. Activations are quantised with a range taken over the whole call,
so an int8 score may move in its last digits with what is batched beside it; the recorded dev change is measured
through the same batches serving makes.
"""
from __future__ import annotations

import copy
import logging
import statistics
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

ONNX_FILE = "model.onnx"
INT8_FILE = "model.int8.onnx"
INT8_TOLERANCE = 0.005          # the most the dev metric may lose (half a point of accuracy) for int8 to serve
CHECK_TOLERANCE = 1e-4
OPSET = 17
TIMING_ROUNDS = 7
EXPORTED_TASKS = ("tagging", "classification")
RUNTIMES = ("auto", "torch", "onnx")


@dataclass(frozen=True)
class DevCheck:
    """How a save scores a runner (the model, or an OnnxModel) on the dev set: the int8 graph's check."""
    score: Callable[[Any], dict[str, float]]
    metric: str
    lower_is_better: bool = False


class _Logits(nn.Module):
    """The model's logits alone, from its inputs in the order of `names` (token ids, lengths and, when the model
    reads them, character ids; or numeric frames and lengths). Made in eval mode, with the model: the TorchScript
    exporter traces in eval mode and afterwards sets the module it was given back to that module's own mode, so a
    wrapper left in training mode (nn.Module's default) would switch the wrapped model to training after the
    export, and the check would compare ONNX Runtime against a PyTorch with its word dropout (and an LSTM's
    dropout between layers) switched on."""

    def __init__(self, model: nn.Module, names: list[str]):
        super().__init__()
        self.model, self.names = model, names
        self.eval()

    def forward(self, *inputs: Tensor) -> Tensor:
        return self.model(**dict(zip(self.names, inputs, strict=True)))[0]


def export(model: nn.Module, codec: Any, task: str, folder: Path, *, quantize: bool = False,
           dev_check: DevCheck | None = None) -> dict[str, Any]:
    """Write folder/model.onnx when the model exports and passes the check (and folder/model.int8.onnx, with
    `quantize`, scored by `dev_check`); what happened, for config.json."""
    reason = _not_exportable(model, codec, task)
    if reason:
        return {"runtime": "torch", "onnx": {"exported": False, "reason": reason}}
    cpu = copy.deepcopy(model).cpu().eval()
    names = _input_names(cpu, codec)
    path = folder / ONNX_FILE
    try:
        batch = _check_batch(codec, names, lengths=(7, 1, 12, 3))
        axes = {names[0]: {0: "batch", 1: "steps"}, "lengths": {0: "batch"}, "logits": {0: "batch"}}
        if "chars" in names:
            axes["chars"] = {0: "batch", 1: "steps", 2: "letters"}
        if task == "tagging":
            axes["logits"][1] = "steps"
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")              # the TorchScript exporter's notes on RNNs and tracing
            torch.onnx.export(_Logits(cpu, names), tuple(batch[name] for name in names), str(path),
                              input_names=names, output_names=["logits"], dynamic_axes=axes, opset_version=OPSET,
                              dynamo=False, training=torch.onnx.TrainingMode.EVAL)
        session = _session(path, threads=1)
        worst = 0.0
        for lengths in ((7, 1, 12, 3), (5,), (2, 2), (16, 9, 1, 4, 4, 11)):   # mixed lengths, one, equal ones
            check = _check_batch(codec, names, lengths)
            worst = max(worst, _compare(cpu, session, check, names, task))
    except Exception as exc:                             # a model that does not export is served by PyTorch
        path.unlink(missing_ok=True)
        return {"runtime": "torch", "onnx": {"exported": False, "reason": f"{type(exc).__name__}: {exc}"[:500]}}
    timings = {f"ms_batch_{size}": _timings(cpu, session, _check_batch(codec, names, (12,) * size), names)
               for size in (1, 16)}
    # ONNX Runtime's LSTM runs the padded steps that PyTorch's packed path skips, so it can lose on a batch even
    # where it wins on one input: it serves only where it is faster on both (the batch of one length, as the
    # batcher groups requests).
    faster = "onnx" if all(timings[size]["onnx"] < timings[size]["torch"] for size in timings) else "torch"
    recorded = {"runtime": faster, "onnx": {"exported": True, "checked": True, "max_difference": worst, **timings}}
    if quantize:
        int8 = _quantize(cpu, folder, codec, names, dev_check)
        recorded["onnx"]["int8"] = int8
        if int8.get("within_tolerance") and all(int8[size] < timings[size][faster] for size in timings):
            recorded["runtime"] = "onnx_int8"
    return recorded


def _quantize(model: nn.Module, folder: Path, codec: Any, names: list[str],
              dev_check: DevCheck | None) -> dict[str, Any]:
    """folder/model.int8.onnx from folder/model.onnx, its dev metrics beside the float graph's, and its timings."""
    from onnxruntime.quantization import QuantType, quantize_dynamic
    if dev_check is None:
        return {"made": False, "reason": "no dev set to check it on"}
    target = folder / INT8_FILE
    quantizer_log = logging.getLogger()                  # the quantiser warns on the root logger (pre-processing)
    level = quantizer_log.level
    try:
        quantizer_log.setLevel(logging.ERROR)
        quantize_dynamic(str(folder / ONNX_FILE), str(target), weight_type=QuantType.QInt8)
        float_metrics = dev_check.score(OnnxModel(model, folder / ONNX_FILE, threads=1))
        int8_metrics = dev_check.score(OnnxModel(model, target, threads=1))
    except Exception as exc:                              # the float graph still serves
        target.unlink(missing_ok=True)
        return {"made": False, "reason": f"{type(exc).__name__}: {exc}"[:500]}
    finally:
        quantizer_log.setLevel(level)
    change = {name: round(int8_metrics[name] - value, 5) for name, value in float_metrics.items()
              if name in int8_metrics}
    lost = change.get(dev_check.metric, 0.0) * (-1 if not dev_check.lower_is_better else 1)
    session, timings = _session(target, threads=1), {}
    for size in (1, 16):
        feed = {name: tensor.numpy() for name, tensor in _check_batch(codec, names, (12,) * size).items()
                if name in names}
        timings[f"ms_batch_{size}"] = _median_ms(lambda: session.run(None, feed))     # noqa: B023 (run at once)
    return {"made": True, "metric": dev_check.metric, "dev_float": _rounded(float_metrics),
            "dev_int8": _rounded(int8_metrics), "dev_change": change,
            "within_tolerance": lost <= INT8_TOLERANCE, "tolerance": INT8_TOLERANCE, **timings,
            "bytes": {"float": (folder / ONNX_FILE).stat().st_size, "int8": target.stat().st_size}}


def _rounded(metrics: dict[str, float]) -> dict[str, float]:
    return {name: round(value, 5) for name, value in metrics.items()}


def _not_exportable(model: nn.Module, codec: Any, task: str) -> str:
    if task not in EXPORTED_TASKS:
        return f"only {' and '.join(EXPORTED_TASKS)} models are exported"
    if not hasattr(_first(model), "encoder"):
        return "the model has no encoder"
    return ""


def _first(model: nn.Module) -> nn.Module:
    """The model, or an ensemble's first member (training.ensemble): its members read the same inputs."""
    return model.members[0] if hasattr(model, "members") else model


def _input_names(model: nn.Module, codec: Any) -> list[str]:
    """The graph's inputs: token ids, lengths and character ids where the model reads them; or frames and lengths."""
    if getattr(codec, "input", "tokens") == "values":
        return ["values", "lengths"]
    return ["ids", "lengths", *(["chars"] if getattr(_first(model).encoder, "chars", None) is not None else [])]


def _check_batch(codec: Any, names: list[str], lengths: tuple[int, ...]) -> dict[str, Tensor]:
    """A padded batch of the given lengths: random tokens (ids past the reserved ones), or random normalised
    frames, zero where padded."""
    generator = torch.Generator().manual_seed(sum(lengths))
    steps, vocab = max(lengths), codec.sizes()
    mask = torch.arange(steps)[None, :] < torch.tensor(lengths)[:, None]
    if names[0] == "values":
        frames = torch.randn((len(lengths), steps, codec.features), generator=generator)
        return {"values": frames * mask[:, :, None], "lengths": torch.tensor(lengths)}
    words = max(3, vocab.get("words", 3))
    ids = torch.randint(2, words, (len(lengths), steps), generator=generator)
    batch = {"ids": ids * mask, "lengths": torch.tensor(lengths)}
    if "chars" in names:
        letters = max(3, vocab.get("chars", 3))
        char_ids = torch.randint(2, letters, (len(lengths), steps, 6), generator=generator)
        batch["chars"] = char_ids * mask[:, :, None]
    return batch


def _compare(model: nn.Module, session: Any, batch: dict[str, Tensor], names: list[str], task: str) -> float:
    """The largest difference of probability between ONNX Runtime on the padded batch and PyTorch on each input
    alone (no padding: what every output must equal), over the real positions; raises ValueError when an argmax
    differs anywhere or a difference passes CHECK_TOLERANCE. The reference must be in eval mode: with its word
    dropout on, it drifts from itself by 1e-3 to 1e-2 (what refused every trained model until 2026-12-05)."""
    if any(module.training for module in model.modules()):     # dropout on: not what serving computes
        raise ValueError("the PyTorch reference is in training mode")
    wrapped, rows = _Logits(model, names), []
    with torch.no_grad():
        for row, length in enumerate(batch["lengths"].tolist()):
            alone = {name: batch[name][row:row + 1, :length] if name != "lengths" else batch[name][row:row + 1]
                     for name in names}
            rows.append(wrapped(*(alone[name] for name in names)).float().softmax(-1)[0])
    found = torch.from_numpy(session.run(None, {name: batch[name].numpy() for name in names})[0]).softmax(-1)
    if task == "tagging":
        expected = torch.cat(rows)
        found = found[torch.arange(found.size(1))[None, :] < batch["lengths"][:, None]]
    else:
        expected = torch.stack(rows)
    if not torch.equal(expected.argmax(-1), found.argmax(-1)):
        raise ValueError("ONNX Runtime and PyTorch disagree on an argmax")
    worst = float((expected - found).abs().max())
    if worst > CHECK_TOLERANCE:
        raise ValueError(f"ONNX Runtime and PyTorch differ by {worst:.2e} in a probability (> {CHECK_TOLERANCE})")
    return worst


def _timings(model: nn.Module, session: Any, batch: dict[str, Tensor], names: list[str]) -> dict[str, float]:
    """Median ms of a forward pass, PyTorch eager and ONNX Runtime, each with one thread (as a web worker)."""
    wrapped, feed = _Logits(model, names), {name: batch[name].numpy() for name in names}
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with torch.inference_mode():
            return {"torch": _median_ms(lambda: wrapped(*(batch[name] for name in names))),
                    "onnx": _median_ms(lambda: session.run(None, feed))}
    finally:
        torch.set_num_threads(threads)


def _median_ms(run: Any) -> float:
    run()
    times = []
    for _ in range(TIMING_ROUNDS):
        started = time.perf_counter()
        run()
        times.append(1000 * (time.perf_counter() - started))
    return round(statistics.median(times), 3)


def _session(path: Path, threads: int) -> Any:
    import onnxruntime
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads, options.inter_op_num_threads = threads, 1
    options.log_severity_level = 3
    return onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


class OnnxModel:
    """Stands in for a tagger's or classifier's module (or an ensemble of classifiers) at prediction: its logits
    from ONNX Runtime, the rest of its predict (softmax, the CRF) from the PyTorch module, whose weights are the
    same."""

    # ONNX Runtime's LSTM computes every padded step (it takes sequence_lens, but pays for the padding), so
    # Predictor.run keeps its batches to lengths within this factor of each other: 32 UD dev sentences in 25 ms
    # so cut, 67 ms as one padded batch, 41.5 ms with PyTorch (bench/RESULTS.md, "The runtime").
    length_spread = 1.25

    def __init__(self, model: nn.Module, path: Path, threads: int):
        self.module, self.path, self.session = model, path, _session(path, threads)
        self.names = [i.name for i in self.session.get_inputs()]
        self.crf = getattr(model, "crf", None)

    def __call__(self, ids: Tensor | None = None, lengths: Tensor | None = None, chars: Tensor | None = None,
                 values: Tensor | None = None, **_: Any) -> tuple[Tensor, None]:
        given = {"ids": ids, "lengths": lengths, "chars": chars, "values": values}
        feed = {name: np.ascontiguousarray(given[name].cpu().numpy()) for name in self.names}
        return torch.from_numpy(self.session.run(None, feed)[0]), None

    def predict(self, **batch: Any) -> Any:
        return type(self.module).predict(self, **batch)          # the module's own decoding, over these logits


def serving_model(model: nn.Module, folder: Path, info: dict[str, Any], *, runtime: str, device: str | torch.device,
                  threads: int) -> nn.Module | OnnxModel:
    """What predictions run on: `model`, or ONNX Runtime over the version's model.onnx, as `runtime` (one of
    RUNTIMES) and the version's recorded check say."""
    if runtime not in RUNTIMES:
        raise ValueError(f"SERVING_RUNTIME must be one of {', '.join(RUNTIMES)}, not {runtime!r}")
    recorded = info.get("runtime") or {}
    checked = (recorded.get("onnx") or {}).get("checked", False)
    wanted = recorded.get("runtime") if runtime == "auto" else runtime
    path = folder / (INT8_FILE if wanted == "onnx_int8" else ONNX_FILE)     # onnx_int8: only as recorded
    if wanted not in ("onnx", "onnx_int8") or not checked or torch.device(device).type != "cpu" or not path.is_file():
        return model
    return OnnxModel(model, path, threads)
