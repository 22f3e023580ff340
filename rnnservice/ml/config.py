"""Run configuration as dataclasses: per-task defaults, and strict validation from plain dicts/JSON."""
from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass, field
from typing import Any

from rnnservice.ml import tasks
from rnnservice.ml.errors import ConfigError
from rnnservice.ml.tasks import TASKS

CELLS = ("rnn", "lstm", "gru", "peephole_lstm", "jordan", "ctrnn")
INPUTS = ("tokens", "values")     # text (token ids through an embedding) or numeric feature vectors per step


@dataclass
class TokenizerConfig:
    kind: str = "words"            # words (regex) | chars | whitespace (pre-tokenized) | bpe (learned subwords)
    lowercase: bool = False        # the word vocabulary only; character features keep the case
    min_freq: int = 1              # rarer tokens become <unk> (words and chars)
    max_vocab: int = 50_000
    bpe_vocab_size: int = 8_000    # bpe only


@dataclass
class ArchitectureConfig:
    cell: str = "lstm"             # rnn | lstm | gru | peephole_lstm | jordan | ctrnn
    nonlinearity: str = "tanh"     # rnn only: tanh | relu
    embed_dim: int = 128
    hidden_dim: int = 256
    num_layers: int = 2
    bidirectional: bool = True
    dropout: float = 0.3
    char_dim: int = 0              # tagging, classification: > 0 adds character-CNN word features
    input_conv: int = 0            # values: > 0 puts a 1-D convolution of this width before the RNN, else a
                                   # linear projection of each frame to embed_dim
    input_noise: float = 0.0       # values: the standard deviation of Gaussian noise added to the normalised frames
                                   # in training, a regulariser for data sets of a few hundred series
    fcn: int = 0                   # classification of values: > 0 adds a fully convolutional branch beside the RNN
                                   # (LSTM-FCN: three conv blocks of fcn, 2*fcn, fcn filters, averaged over time)
    fcn_dropout: float = 0.0       # with fcn: dropout on the branch's time-averaged vector before the output layer
    fcn_noise: float = 0.0         # with fcn: the standard deviation of Gaussian noise added in training to the
                                   # normalised frames the branch reads (input_noise is the RNN's own)
    crf: bool | None = None        # tagging: None = on when the tags are BIO/IOB2
    pooling: str = "max"           # classification: last | mean | max | attention
    decoder_layers: int = 1        # translation
    tie_embeddings: bool = True    # translation, generation: the (target) embedding is also the output layer
    condition_dim: int = 32        # generation: the size of a label's embedding (the condition), when there are labels
    condition: str = "both"        # generation: the label's embedding sets the initial state (init), joins every
                                   # input (input), or both
    adaptive_softmax: bool = False # generation: frequent words in a full softmax, rare ones in clusters (vocabularies
                                   # over 2,000 tokens); a large word model trains several times faster on a CPU
    ctrnn_dt: float = 0.5          # ctrnn: Euler time step; each unit moves dt/tau of the way per step
    forecast_head: str = "segments"  # forecasting: segments (SegRNN: the window cut into segments, the horizon
                                   # decoded in parallel, each target column alone) | direct (all columns read,
                                   # the whole horizon from the final state by a linear layer)
    segment_length: int = 48       # forecasting: time steps per segment (1: one step an RNN step)
    instance_norm: bool = True     # forecasting: each window minus its last value, added back to the forecast


@dataclass
class TrainConfig:
    epochs: int = 20
    batch_size: int = 32           # examples per batch; batches group examples of similar length
    lr: float = 2e-3
    weight_decay: float = 0.01
    clip: float = 5.0              # max gradient norm: RNNs have exploding gradients on long inputs
    schedule: str = "cosine"       # constant | linear | cosine, after a linear warm-up
    warmup: float = 0.02           # fraction of all steps
    patience: int = 5              # epochs without a better dev score before stopping
    seed: int = 13
    word_dropout: float = 0.0      # chance to replace a training token by <unk>: teaches the <unk> embedding
    label_smoothing: float = 0.0
    amp: bool = True               # mixed precision, CUDA only
    metric: str = ""               # dev metric for early stopping; "" = the task's default
    max_length: int = 256          # longer training inputs are cut to this many tokens
    eval_beam_size: int = 1        # translation: beam used for the dev score each epoch
    average_decay: float = 0.0     # > 0: dev scores and the saved model use an exponential moving average of
                                   # the weights with this decay per step (e.g. 0.999), steadier than the last step
    bptt: int = 35                 # generation with data.stream: tokens a training window holds (truncated
                                   # backpropagation through time; the state is carried across windows)
    loss: str = "mse"              # forecasting: mse | mae, on the z-scored target values
    quantize: bool = False         # tagging, classification of text: also an int8 ONNX graph, checked on the dev
                                   # set, served where it loses at most half a point (rnnservice/ml/runtime.py)
    ensemble: int = 1              # classification: this many models, trained one after another with seeds seed,
                                   # seed + 1, ..., each stopped on the dev split; they answer with the mean of
                                   # their probabilities (1: one model)


@dataclass
class DataConfig:
    format: str | None = None      # None: guessed from each file
    input: str | None = None       # tokens | values (numeric series); None: decided by the training data
    options: dict = field(default_factory=dict)   # format options, e.g. {"tag_field": "xpos"}
    dev_fraction: float = 0.1      # used only when no dev file is given: a seeded split
    split_seed: int = 13
    stream: bool = False           # generation: the file is one running text (its lines joined), cut into
                                   # windows of training.bptt tokens, not one document a line
    lookback: int = 336            # forecasting: the time steps a forecast reads
    horizon: int = 96              # forecasting: the time steps it predicts
    stride: int = 1                # forecasting: steps between the starts of training windows
    targets: list[str] = field(default_factory=list)   # forecasting: the columns to predict; [] = all
    split_rows: list[int] = field(default_factory=list)  # forecasting: [train_end, dev_end], rows of each series
                                   # (0-based, end excluded); [] = the last dev_fraction of each series is dev


@dataclass
class RunConfig:
    task: str
    tokenizer: TokenizerConfig = field(default_factory=TokenizerConfig)
    architecture: ArchitectureConfig = field(default_factory=ArchitectureConfig)
    training: TrainConfig = field(default_factory=TrainConfig)
    data: DataConfig = field(default_factory=DataConfig)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


CHOICES = {
    "task": TASKS,
    "tokenizer.kind": ("words", "chars", "whitespace", "bpe"),
    "data.input": (None, *INPUTS),
    "architecture.cell": CELLS,
    "architecture.nonlinearity": ("tanh", "relu"),
    "architecture.pooling": ("last", "mean", "max", "attention"),
    "architecture.condition": ("init", "input", "both"),
    "training.schedule": ("constant", "linear", "cosine"),
    "architecture.forecast_head": ("segments", "direct"),
    "training.loss": ("mse", "mae"),
}
# (lowest, highest) inclusive; None = no bound. Upper bounds keep a bad request from exhausting memory.
RANGES = {
    "tokenizer.min_freq": (1, None), "tokenizer.max_vocab": (10, 1_000_000),
    "tokenizer.bpe_vocab_size": (100, 200_000),
    "architecture.embed_dim": (1, 4096), "architecture.hidden_dim": (1, 8192),
    "architecture.num_layers": (1, 16), "architecture.decoder_layers": (1, 16),
    "architecture.dropout": (0.0, 0.9), "architecture.char_dim": (0, 1024), "architecture.input_conv": (0, 31),
    "architecture.input_noise": (0.0, 10.0), "architecture.fcn": (0, 1024),
    "architecture.fcn_dropout": (0.0, 0.9), "architecture.fcn_noise": (0.0, 10.0),
    "training.epochs": (1, 10_000), "training.batch_size": (1, 65_536), "training.lr": (1e-7, 10.0),
    "training.weight_decay": (0.0, 10.0), "training.clip": (0.0, 1e6), "training.warmup": (0.0, 1.0),
    "training.patience": (1, 10_000), "training.word_dropout": (0.0, 0.9),
    "training.label_smoothing": (0.0, 0.9), "training.max_length": (1, 100_000),
    "training.eval_beam_size": (1, 64), "training.average_decay": (0.0, 0.99999),
    "data.dev_fraction": (0.01, 0.9), "architecture.ctrnn_dt": (0.001, 10.0),
    "architecture.condition_dim": (1, 1024), "training.bptt": (2, 10_000),
    # Seeds as numpy and CUDA take them: a larger one fails in the worker, after the job was accepted.
    "training.seed": (0, 2**32 - 1), "data.split_seed": (0, 2**32 - 1),
    "data.lookback": (1, 10_000), "data.horizon": (1, 10_000), "data.stride": (1, 10_000),
    "architecture.segment_length": (1, 1_000), "training.ensemble": (1, 16),
}
# Fields that mean something for some cells only.
CELL_ONLY = {"architecture.ctrnn_dt": ("ctrnn",)}
# Fields that mean something for one input kind only.
INPUT_ONLY = {"architecture.char_dim": "tokens", "architecture.input_conv": "values",
              "architecture.input_noise": "values", "architecture.fcn": "values",
              "architecture.fcn_dropout": "values", "architecture.fcn_noise": "values", "training.quantize": "tokens"}

def task_defaults(task: str, input: str | None = None) -> dict[str, dict[str, Any]]:
    """The task's defaults over the dataclasses' own, for one input kind (None: the task's first, tokens but for
    forecasting): section -> field -> value."""
    kind = tasks.get(task)
    return kind.defaults.get(input or kind.inputs[0], {})


def task_only_fields() -> dict[str, tuple[str, ...]]:
    """"section.field" -> the tasks it means something for: setting it for another task is a mistake worth naming."""
    owners: dict[str, tuple[str, ...]] = {}
    for name in TASKS:
        for path in tasks.get(name).own_fields:
            owners[path] = (*owners.get(path, ()), name)
    owners.setdefault("architecture.char_dim", ("tagging", "classification"))   # character features of words
    owners.setdefault("training.quantize", ("tagging", "classification"))      # the tasks that export to ONNX
    return owners


def config_from_dict(data: dict[str, Any] | None = None, *, task: str | None = None,
                     input: str | None = None) -> RunConfig:
    """Validate a plain dict (from JSON, a form or the command line) over the defaults of the task and input kind.

    `input` ("tokens" or "values") is the kind the data holds, when the caller knows it; `data.input` in the dict
    wins. Raises ConfigError naming the first bad field: unknown names, wrong types, out-of-range values.
    """
    data = dict(data or {})
    task = data.pop("task", None) or task
    if task not in TASKS:
        raise ConfigError("task", f"must be one of {list(TASKS)}, not {task!r}")
    given_data = data.get("data")
    if isinstance(given_data, dict) and given_data.get("input") is not None:
        input = given_data["input"]
    if input is not None and input not in INPUTS:
        raise ConfigError("data.input", f"must be one of {list(INPUTS)}, not {input!r}")
    kinds = tasks.get(task).inputs
    if input is not None and input not in kinds:
        readers = [t for t in TASKS if input in tasks.get(t).inputs]
        what = "numeric series" if input == "values" else "text"
        listed = ", ".join(readers[:-1]) + " and " + readers[-1] if len(readers) > 1 else readers[0]
        raise ConfigError("data.input", f"{what} are for {listed}, not {task}")
    defaults_of_task = task_defaults(task, input)
    task_only = task_only_fields()
    sections = {"tokenizer": TokenizerConfig, "architecture": ArchitectureConfig,
                "training": TrainConfig, "data": DataConfig}
    unknown = set(data) - set(sections)
    if unknown:
        raise ConfigError(sorted(unknown)[0], f"unknown section; choose from {sorted(sections)}")
    built = {}
    for name, cls in sections.items():
        given = data.get(name) or {}
        if not isinstance(given, dict):
            raise ConfigError(name, f"must be an object, not {type(given).__name__}")
        defaults = {f.name: f.default if f.default_factory is dataclasses.MISSING else f.default_factory()
                    for f in dataclasses.fields(cls)}
        for key, value in given.items():
            owners = task_only.get(f"{name}.{key}")
            if owners and task not in owners and value != defaults.get(key):   # a saved config repeats defaults
                raise ConfigError(f"{name}.{key}", f"applies to {' and '.join(owners)} only, not {task}")
            kind = INPUT_ONLY.get(f"{name}.{key}")
            if kind and input is not None and (input == "values") != (kind == "values") and value:
                raise ConfigError(f"{name}.{key}", f"applies to {kind} input only, not {input}")
        merged = {**defaults_of_task.get(name, {}), **given}
        if name == "data" and input is not None:
            merged["input"] = input
        built[name] = _build(cls, merged, name)
    metric = built["training"].metric
    reported = tasks.get(task).metrics
    if metric and metric not in reported:
        raise ConfigError("training.metric", f"{task} reports {', '.join(reported)}, not {metric!r}")
    _check_cell_only(data, built["architecture"])
    config = RunConfig(task=task, **built)
    tasks.get(task).check_config(config)
    return config


def _check_cell_only(data: dict[str, Any], arch: ArchitectureConfig) -> None:
    """Refuse a cell-only field set away from its default for another cell (a saved config repeats defaults)."""
    for path, cells in CELL_ONLY.items():
        section, key = path.split(".")
        given = data.get(section) or {}
        if key in given and arch.cell not in cells and given[key] != getattr(ArchitectureConfig, key):
            raise ConfigError(path, f"applies to cell {' and '.join(cells)} only, not {arch.cell}")


def _build(cls: type, values: dict[str, Any], prefix: str) -> Any:
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    for key in values:
        if key not in names:
            raise ConfigError(f"{prefix}.{key}", f"unknown field; choose from {sorted(names)}")
    for key, value in values.items():
        path = f"{prefix}.{key}"
        values[key] = value = _coerce(path, value, hints[key])
        if path in CHOICES and value not in CHOICES[path]:
            raise ConfigError(path, f"must be one of {[c for c in CHOICES[path] if c]}, not {value!r}")
        low, high = RANGES.get(path, (None, None))
        if low is not None and value < low or high is not None and value > high:
            raise ConfigError(path, f"must be between {low} and {high}, not {value!r}")
    return cls(**values)


def _coerce(path: str, value: Any, hint: Any) -> Any:
    allowed = typing.get_args(hint) if typing.get_origin(hint) in (typing.Union, types.UnionType) else (hint,)
    if value is None and type(None) in allowed:
        return None
    if bool in allowed and isinstance(value, bool):
        return value
    if int in allowed and isinstance(value, int) and not isinstance(value, bool):
        return value
    if float in allowed and isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if str in allowed and isinstance(value, str):
        return value
    if dict in allowed and isinstance(value, dict):
        return value
    lists = [a for a in allowed if typing.get_origin(a) is list]
    if lists and isinstance(value, list):
        item = typing.get_args(lists[0])[0]
        for i, element in enumerate(value):
            if type(element) is not item:         # bool is no int here, nor int a str
                raise ConfigError(f"{path}[{i}]", f"must be {item.__name__}, not {type(element).__name__} "
                                                  f"{element!r}")
        return list(value)
    names = " or ".join("null" if a is type(None) else "a list" if typing.get_origin(a) is list else a.__name__
                        for a in allowed)
    raise ConfigError(path, f"must be {names}, not {type(value).__name__} {value!r}")
