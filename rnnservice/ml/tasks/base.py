"""The Task protocol: what the rest of the core asks of a task, so that a task is one module.

A task module (tagging.py, classification.py, ...) holds its codecs, its model head, how a REST input becomes
an example, how a batch's model outputs become output dicts, its metrics and its configuration defaults, in a
subclass of Task; `rnnservice.ml.tasks.MODULES` lists the modules. Training, prediction, artifacts, the budget
estimate and the service reach a task only through `rnnservice.ml.tasks.get(name)`.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from torch import Tensor, nn

if TYPE_CHECKING:
    from rnnservice.ml.config import RunConfig
    from rnnservice.ml.data import Codec


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

    # -- data and model ------------------------------------------------------------------------------------
    def codec_class(self, input: str) -> type[Codec]:
        """The codec for examples of this input kind (one of `inputs`)."""
        raise NotImplementedError

    def prepare(self, config: RunConfig, train: Sequence[Any]) -> tuple[RunConfig, str]:
        """The config with this task's automatic choices made concrete from the training examples (a CRF on BIO
        tags), and the dev metric that early stopping follows."""
        return config, config.training.metric or self.metrics[0]

    def build_model(self, config: RunConfig, sizes: dict[str, int]) -> nn.Module:
        """The model for this config; `sizes` are the codec's (vocabulary sizes or the feature count)."""
        raise NotImplementedError

    # -- prediction ----------------------------------------------------------------------------------------
    def parse_options(self, options: dict[str, Any]) -> Any:
        """Prediction options, validated (raise MLError naming the option). The default takes none."""
        if options:
            from rnnservice.ml.errors import MLError
            raise MLError(f"{self.name} takes no prediction options, got {sorted(options)}")
        return None

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
