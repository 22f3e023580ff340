"""Request limits of prediction and evaluation, read from settings on every request; each one exceeded is a
LimitExceeded (a 400) that names its setting."""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.conf import settings

from rnnservice.errors import LimitExceeded, ServiceError
from rnnservice.ml.predict import Predictor, Prepared
from rnnservice.ml.tasks.generation import SampleOptions
from rnnservice.ml.tasks.translation import DecodeOptions

# Beam search divides a score by length ** length_penalty: far outside this range the power overflows or
# underflows to zero (a crash, not an answer). Usual values lie between 0.6 and 1.
LENGTH_PENALTY_RANGE = (0.0, 10.0)


def check_items(inputs: Sequence[Any]) -> None:
    """At most SERVING_MAX_ITEMS inputs in one request."""
    if len(inputs) > settings.SERVING_MAX_ITEMS:
        raise LimitExceeded("SERVING_MAX_ITEMS", len(inputs), settings.SERVING_MAX_ITEMS,
                            what="the number of inputs", field="inputs")


def check_frames(inputs: Sequence[Any]) -> None:
    """At most SERVING_MAX_FRAMES frames in each numeric series ({"values": [...]}). Counted from the request
    alone, before the model is loaded or a value is looked at; other inputs and shapes are the Predictor's."""
    maximum = settings.SERVING_MAX_FRAMES
    for index, raw in enumerate(inputs):
        frames = raw.get("values") if isinstance(raw, dict) else None
        if isinstance(frames, list) and len(frames) > maximum:
            raise LimitExceeded("SERVING_MAX_FRAMES", len(frames), maximum,
                                what=f"the number of frames in inputs[{index}]", field="inputs", index=index)


def check_characters(inputs: Sequence[Any]) -> None:
    """At most SERVING_MAX_INPUT_CHARS characters in each input (a text, or the given tokens together), checked
    before any tokenizer reads it: a subword tokenizer spends about a second per megabyte."""
    maximum = settings.SERVING_MAX_INPUT_CHARS
    for index, raw in enumerate(inputs):
        tokens = raw.get("tokens") if isinstance(raw, dict) else None
        prompt = raw.get("prompt") if isinstance(raw, dict) else None
        if isinstance(raw, str) or isinstance(prompt, str):
            count = len(raw if isinstance(raw, str) else prompt)
        elif isinstance(tokens, list):
            count = sum(len(token) for token in tokens if isinstance(token, str))
        else:
            continue
        if count > maximum:
            raise LimitExceeded("SERVING_MAX_INPUT_CHARS", count, maximum,
                                what=f"the number of characters in inputs[{index}]", field="inputs", index=index)


def check_tokens(predictor: Predictor, prepared: Sequence[Prepared]) -> None:
    """At most SERVING_MAX_TOKENS tokens in each input, counted on the prepared inputs (`Predictor.prepare`): the
    tokens the model reads, split by its own tokenizer (words, characters or subwords), without the markers it
    adds. A model of numeric series has no tokens: check_frames bounds it."""
    if predictor.input == "values":
        return
    maximum = settings.SERVING_MAX_TOKENS
    for index, one in enumerate(prepared):
        if one.tokens > maximum:
            raise LimitExceeded("SERVING_MAX_TOKENS", one.tokens, maximum,
                                what=f"the number of tokens in inputs[{index}]", field="inputs", index=index)


def check_examples(count: int) -> None:
    """At most SERVING_MAX_EVALUATE_EXAMPLES examples scored in one request."""
    if count > settings.SERVING_MAX_EVALUATE_EXAMPLES:
        raise LimitExceeded("SERVING_MAX_EVALUATE_EXAMPLES", count, settings.SERVING_MAX_EVALUATE_EXAMPLES,
                            what="the number of examples to score")


def prediction_options(predictor: Predictor, options: dict[str, Any] | None) -> Any:
    """The one check of a request's prediction options: the serving limits (`_limited`), then the task's own check
    (`Predictor.options`, an MLError naming the option). Returns the checked options that `Predictor.run` and
    `Predictor.evaluate` take."""
    return predictor.options(_limited(predictor.task, dict(options or {})))


def _limited(task: str, options: dict[str, Any]) -> dict[str, Any]:
    """`options` with the beam and output-length limits applied (translation; generation adds SERVING_MAX_SAMPLES,
    in _sample_options; other tasks take no options).

    A beam_size over SERVING_MAX_BEAM, or a max_length or length_cap over SERVING_MAX_OUTPUT_LENGTH, is refused;
    left out, they default to the Predictor's defaults, lowered to the limits. A length_penalty outside
    LENGTH_PENALTY_RANGE is a ServiceError. Values of the wrong type are left to the task's check, whose error
    names the option.
    """
    if task == "generation":
        return _sample_options(options)
    if task != "translation":
        return options
    max_beam, max_length = settings.SERVING_MAX_BEAM, settings.SERVING_MAX_OUTPUT_LENGTH
    for name, maximum, setting in (("beam_size", max_beam, "SERVING_MAX_BEAM"),
                                   ("max_length", max_length, "SERVING_MAX_OUTPUT_LENGTH"),
                                   ("length_cap", max_length, "SERVING_MAX_OUTPUT_LENGTH")):
        value = options.get(name)
        if isinstance(value, int) and not isinstance(value, bool) and value > maximum:
            raise LimitExceeded(setting, value, maximum, what=f"options.{name}", field=f"options.{name}")
    penalty, (low, high) = options.get("length_penalty"), LENGTH_PENALTY_RANGE
    if isinstance(penalty, (int, float)) and not isinstance(penalty, bool) and not low <= penalty <= high:
        raise ServiceError(f"options.length_penalty must be between {low:g} and {high:g}, not {penalty!r}",
                           field="options.length_penalty")
    defaults = DecodeOptions()
    return {"beam_size": min(defaults.beam_size, max_beam), "length_cap": min(defaults.length_cap, max_length),
            **options}


def _sample_options(options: dict[str, Any]) -> dict[str, Any]:
    """Generation: beam_size over SERVING_MAX_BEAM, max_length over SERVING_MAX_OUTPUT_LENGTH and num_samples over
    SERVING_MAX_SAMPLES are refused; max_length left out is the core's default, lowered to the limit."""
    for name, setting in (("beam_size", "SERVING_MAX_BEAM"), ("max_length", "SERVING_MAX_OUTPUT_LENGTH"),
                          ("num_samples", "SERVING_MAX_SAMPLES")):
        value, maximum = options.get(name), getattr(settings, setting)
        if isinstance(value, int) and not isinstance(value, bool) and value > maximum:
            raise LimitExceeded(setting, value, maximum, what=f"options.{name}", field=f"options.{name}")
    return {"max_length": min(SampleOptions().max_length, settings.SERVING_MAX_OUTPUT_LENGTH), **options}
