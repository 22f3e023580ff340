"""The Task protocol: what the rest of the core asks of a task, so that a task is one module.

A task module (tagging.py, classification.py, ...) holds its codecs, its model head, how a REST input becomes
an example, how a batch's model outputs become output dicts, its metrics and its configuration defaults, in a
subclass of Task; `rnnservice.ml.tasks.MODULES` lists the modules. Training, prediction, artifacts, the budget
estimate and the service reach a task only through `rnnservice.ml.tasks.get(name)`.
"""
from __future__ import annotations

import dataclasses
import typing
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from rnnservice.ml.errors import MLError

if TYPE_CHECKING:
    from torch import Tensor, nn

    from rnnservice.ml.budget import DataShape
    from rnnservice.ml.config import RunConfig
    from rnnservice.ml.data import Codec


_KIND_NAMES = {int: "an integer", float: "a number", bool: "true or false"}


class Task:
    """One kind of problem. Subclasses set the class attributes and override every method that raises."""

    name: ClassVar[str] = ""
    inputs: ClassVar[tuple[str, ...]] = ("tokens",)      # input kinds it reads: tokens (text) | values (frames)
    metrics: ClassVar[tuple[str, ...]] = ()              # dev metrics it reports; the first is the default
    lower_is_better: ClassVar[frozenset[str]] = frozenset()   # metrics where less is better (mse, perplexity)
    # Configuration defaults over the dataclasses' own, per input kind: {"tokens": {"training": {"epochs": 15}}}.
    defaults: ClassVar[dict[str, dict[str, dict[str, Any]]]] = {}
    # "section.field" names that mean something for this task only: any other task refuses them when set.
    own_fields: ClassVar[tuple[str, ...]] = ()
    # The codec attribute holding the output vocabulary a version records as its labels ("tags", "labels"), or
    # "" when the outputs are open (translation, forecasting).
    output_vocab: ClassVar[str] = ""
    # The keys of a collated batch that the model's forward/predict take at prediction (not the gold outputs).
    batch_inputs: ClassVar[tuple[str, ...]] = ("ids", "values", "lengths", "chars")
    # Steps the codec adds to every encoded input (<bos>, <eos>): not the input's own, so no token limit counts them.
    input_markers: ClassVar[int] = 0

    # -- data and model ------------------------------------------------------------------------------------
    def codec_class(self, input: str) -> type[Codec]:
        """The codec for examples of this input kind (one of `inputs`)."""
        raise NotImplementedError

    def split(self, config: RunConfig, train: Sequence[Any],
              dev: Sequence[Any] | None) -> tuple[list[Any], list[Any], dict[str, Any]]:
        """(train, dev, how the dev split was made) from what was read; with no dev data, a seeded random split of
        the training examples (by label where they have one). Forecasting splits by time instead."""
        from rnnservice.ml.data import split_dev  # data imports config, which imports the tasks
        if dev:
            return list(train), list(dev), {"dev": "given"}
        kept, held = split_dev(list(train), fraction=config.data.dev_fraction, seed=config.data.split_seed)
        return kept, held, {"dev": "split", "dev_fraction": config.data.dev_fraction,
                            "split_seed": config.data.split_seed}

    def gold_examples(self, config: RunConfig, codec: Codec, examples: Sequence[Any], *,
                      training: bool = False) -> list[Any]:
        """The examples a model learns from (`training`) or is scored on, from those a file held: the same ones,
        but for forecasting, whose files hold series and whose examples are windows cut from them."""
        return list(examples)

    def prepare(self, config: RunConfig, train: Sequence[Any]) -> tuple[RunConfig, str]:
        """The config with this task's automatic choices made concrete from the training examples (a CRF on BIO
        tags), and the dev metric that early stopping follows."""
        return config, config.training.metric or self.metrics[0]

    def build_model(self, config: RunConfig, sizes: dict[str, int]) -> nn.Module:
        """The model for this config; `sizes` are the codec's (vocabulary sizes or the feature count)."""
        raise NotImplementedError

    def budget_sizes(self, config: RunConfig, data: DataShape) -> dict[str, int]:
        """The largest `sizes` a run of this config can learn from data of this shape (before training, for the
        parameter and memory estimate of `budget`)."""
        raise NotImplementedError

    def budget_activations(self, config: RunConfig, sizes: dict[str, int], data: DataShape) -> int:
        """Activation elements one training batch keeps beyond the encoder's (heads, decoders), for `budget`."""
        return 0

    def check_config(self, config: RunConfig) -> None:
        """Raise ConfigError naming a field whose value this task cannot use (a generator reads left to right, so
        it refuses `architecture.bidirectional`). Called by config_from_dict once the config is built."""

    def train_batches(self, config: RunConfig, codec: Codec, examples: Sequence[Any],
                      ) -> tuple[Callable[[int], Iterable[dict[str, Tensor]]], int] | None:
        """(epoch -> that epoch's training batches, batches per epoch) for a task that arranges its training data
        itself (a language model over running text), or None: length-bucketed batches of the encoded examples."""
        return None

    def evaluate(self, model: nn.Module, codec: Codec, config: RunConfig, examples: Sequence[Any],
                 device: Any) -> dict[str, float] | None:
        """The metrics of the gold `examples` computed from the model directly (a language model's perplexity),
        for the dev score of each epoch and for `evaluate`; None: predict the examples, then `score` them."""
        return None
    def budget_steps(self, config: RunConfig, data: DataShape) -> int:
        """The recurrent steps of the longest training input (times the sequences per example, where a task runs
        several: forecasting's channels), for `budget`."""
        from rnnservice.ml.budget import source_length
        return source_length(config, data)

    def dev_options(self, config: RunConfig) -> dict[str, Any]:
        """The prediction options the dev score of each epoch uses (translation: the eval beam)."""
        return {}

    # -- prediction ----------------------------------------------------------------------------------------
    # A dataclass of the prediction options with their defaults (int, float or bool fields), or None for a task
    # that takes none. parse_options checks names and types from it; check_options adds the task's own rules.
    options_class: ClassVar[type | None] = None

    def parse_options(self, options: dict[str, Any], codec: Codec | None = None) -> Any:
        """Prediction options as an `options_class` instance (None for a task without options); MLError naming
        the option that is unknown or of the wrong type. With the model's `codec`, a task may also check options
        against what the model learned (forecasting: a horizon up to the trained one)."""
        if self.options_class is None:
            if options:
                raise MLError(f"{self.name} takes no prediction options, got {sorted(options)}")
            return None
        hints = typing.get_type_hints(self.options_class)
        for name, value in options.items():
            if name not in hints:
                raise MLError(f"options.{name}: unknown option; choose from {sorted(hints)}")
            wanted = hints[name]
            if wanted is bool:
                ok = isinstance(value, bool)
            elif wanted is float:
                ok = isinstance(value, (int, float)) and not isinstance(value, bool)
            else:
                ok = isinstance(value, int) and not isinstance(value, bool)
            if not ok:
                raise MLError(f"options.{name}: must be {_KIND_NAMES.get(wanted, wanted.__name__)}")
        parsed = self.options_class(**options)
        self.check_options(parsed)
        return parsed

    def check_options(self, options: Any) -> None:
        """Raise MLError naming an option whose value is out of its range."""

    def option_defaults(self) -> dict[str, Any]:
        """Each prediction option's default, for forms and docs."""
        if self.options_class is None:
            return {}
        return {f.name: f.default for f in dataclasses.fields(self.options_class)}

    def parse_input(self, codec: Codec, index: int, raw: Any) -> Any:
        """One REST input (a JSON value) -> an example of the task; raise predict.InputError(index, why)."""
        raise NotImplementedError

    def predict_batch(self, model: nn.Module, codec: Codec, batch: dict[str, Tensor], examples: Sequence[Any],
                      options: Any) -> list[dict[str, Any]]:
        """Output dicts (JSON-ready) for one collated batch of `examples`, in order."""
        raise NotImplementedError

    def warm_up_inputs(self, codec: Codec) -> tuple[list[Any], dict[str, Any]]:
        """Tiny REST inputs and options for a first prediction that pays torch's lazy set-up."""
        return ["warm up"], {}

    # -- scores --------------------------------------------------------------------------------------------
    def score(self, examples: Sequence[Any], outputs: Sequence[dict[str, Any]]) -> dict[str, float]:
        """The dev metrics of `outputs` against the gold `examples`."""
        raise NotImplementedError

    def dev_loss(self, examples: Sequence[Any], outputs: Sequence[dict[str, Any]]) -> float | None:
        """A loss from the outputs that breaks ties of the dev metric between epochs, or None."""
        return None

    # -- the REST contract (OpenAPI) -------------------------------------------------------------------------
    def input_schema(self, input: str) -> dict[str, Any]:
        """The JSON schema of one element of a predict request's `inputs` for this input kind."""
        raise NotImplementedError

    def output_schema(self) -> dict[str, Any]:
        """The JSON schema of one element of a predict response's `outputs`."""
        raise NotImplementedError
