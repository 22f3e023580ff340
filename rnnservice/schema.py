"""The API's OpenAPI contract, for the documentation and for client generators (openapi-python-client,
openapi-typescript): drf-spectacular's schema, with one request content type per operation, the error answers
each operation can give, summaries, and the JSON that the core defines typed from the core itself: the predict
inputs, options and outputs from the task registry (a new task appears without a change here), the configuration
sections from the configuration dataclasses."""
from __future__ import annotations

import dataclasses
import json
import types
import typing
from typing import Any

from drf_spectacular.openapi import AutoSchema
from drf_spectacular.utils import extend_schema_field
from rest_framework.authentication import SessionAuthentication
from rest_framework.fields import Field
from rest_framework.permissions import AllowAny

from rnnservice.api import ErrorOutput
from rnnservice.ml import config, tasks

REF = "#/components/schemas/"
# Each error answer, as the response's description says it.
ERROR_DESCRIPTIONS = {
    "400": "The request was refused: `detail` says why, and `field`, `index`, `file`, `line` or `limit` what it "
           "concerns (`errors` lists each problem when there are several).",
    "401": "No credentials, or a token that is not valid.",
    "403": "Not allowed (a session's change without its CSRF token).",
    "404": "No such object, or not yours.",
    "409": "Another request or state stands in the way: `detail` says which.",
    "415": "The body's content type is not the one this operation takes.",
    "429": "Too many requests: wait `retry_after` seconds (the Retry-After header) before trying again.",
    "503": "The database cannot be reached (try again after Retry-After), or a model version's stored files are "
           "broken (other versions still answer).",
}
SUCCESS_DESCRIPTIONS = {"200": "OK.", "201": "Created.", "204": "Done; no content."}
_JSON_TYPES = {int: "integer", float: "number", bool: "boolean", str: "string", dict: "object", list: "array",
               tuple: "array"}


class ApiSchema(AutoSchema):
    """drf-spectacular's AutoSchema with the request body in one content type (the view's first parser: the view
    may read others, as the token view reads a form, and says so), a summary from the first sentence of the
    view method's docstring, and the error answers an operation can give, found from its view (responses the
    view declares itself, a 409, are kept)."""

    def map_parsers(self) -> list[str]:
        return super().map_parsers()[:1]

    def get_summary(self) -> str | None:
        description = (self.get_description() or "").strip()
        return description.split(". ")[0].split("\n\n")[0].rstrip(".").replace("\n", " ") or None

    def _get_response_bodies(self, direction: str = "response") -> dict[str, Any]:
        responses = super()._get_response_bodies(direction)
        for code in self._error_codes():
            if code not in responses:
                responses[code] = self._get_response_for_code(ErrorOutput, code, direction=direction)
        for code, required in (("429", True), ("503", False)):       # 503: for the database only
            if code in responses:
                responses[code]["headers"] = {"Retry-After": {"schema": {"type": "integer"}, "required": required,
                                                              "description": "Seconds to wait before trying again."}}
        for code, response in responses.items():
            if not response.get("description"):
                response["description"] = ERROR_DESCRIPTIONS.get(code) or SUCCESS_DESCRIPTIONS.get(code, "")
        return responses

    def _error_codes(self) -> list[str]:
        view, changes = self.view, self.method not in ("GET", "HEAD", "OPTIONS")
        guarded = not all(isinstance(permission, AllowAny) for permission in view.get_permissions())
        csrf = any(isinstance(auth, SessionAuthentication) for auth in view.get_authenticators())
        paged = self.method == "GET" and getattr(view, "pagination_class", None) is not None
        body = self.method in ("POST", "PUT", "PATCH") and self.get_request_serializer() is not None
        errors = {
            "400": changes or paged,                 # refused input or page size, or a change refused
            "401": guarded,                          # no or bad credentials
            "403": guarded and changes and csrf,     # a session's request without its CSRF token
            "404": "{" in self.path or paged,        # not yours, or no such object or page
            "415": body,                             # a body in a media type we do not read
            "429": bool(view.throttle_classes),
            "503": True,                             # the database is down; a model version is broken
        }
        return [code for code, applies in errors.items() if applies]


# -- the JSON the core defines -------------------------------------------------------------------------------
def dataclass_schema(cls: type, *, section: str = "", title: str = "", default: str = "Default") -> dict[str, Any]:
    """A configuration dataclass as a JSON schema: each field's type, its choices (config.CHOICES) and range
    (config.RANGES), named "section.field" there, and its default in words ("`default`: 20."). Not as
    `default`: generated clients send a declared default as if it were set, and a task's defaults differ from
    the dataclass's (translation trains 12 epochs, not 20)."""
    hints = typing.get_type_hints(cls)
    properties = {}
    for field in dataclasses.fields(cls):
        prop = _type_schema(hints[field.name])
        path = f"{section}.{field.name}"
        if path in config.CHOICES:
            choices = [choice for choice in config.CHOICES[path] if choice is not None]
            if None in config.CHOICES[path]:
                prop = {"anyOf": [{"type": "string", "enum": choices}, {"type": "null"}]}
            else:
                prop["enum"] = choices
        low, high = config.RANGES.get(path, (None, None))
        if low is not None:
            prop["minimum"] = low
        if high is not None:
            prop["maximum"] = high
        if field.default is not dataclasses.MISSING or field.default_factory is not dataclasses.MISSING:
            value = field.default if field.default is not dataclasses.MISSING else field.default_factory()
            prop["description"] = f"{default}: {json.dumps(value)}."
        properties[field.name] = prop
    return {"type": "object", "title": title or cls.__name__, "properties": properties, "additionalProperties": False}


def _type_schema(hint: Any) -> dict[str, Any]:
    """The JSON schema of a dataclass field's annotation (int, str | None, list[str], dict[str, float]...); any JSON
    value for a type JSON has no name for."""
    origin, args = typing.get_origin(hint) or hint, typing.get_args(hint)
    if isinstance(hint, types.UnionType) or origin is typing.Union:
        kinds = [_type_schema(arg) for arg in args if arg is not type(None)]
        if type(None) in args:
            kinds.append({"type": "null"})
        if all(set(kind) == {"type"} and isinstance(kind["type"], str) for kind in kinds):
            return {"type": [kind["type"] for kind in kinds]}
        return {"anyOf": kinds} if all(kinds) else {}
    kind = _JSON_TYPES.get(origin)
    if kind == "array":
        item = args[0] if args and (origin is list or args[1:] == (Ellipsis,)) else None
        return {"type": "array", "items": _type_schema(item) if item is not None else {}}
    if kind == "object" and len(args) == 2:
        return {"type": "object", "additionalProperties": _type_schema(args[1])}
    return {"type": kind} if kind else {}


SECTIONS = {"tokenizer": ("TokenizerConfig", config.TokenizerConfig),
            "architecture": ("ArchitectureConfig", config.ArchitectureConfig),
            "training": ("TrainingConfig", config.TrainConfig), "data": ("DataConfig", config.DataConfig)}


def config_components() -> dict[str, dict[str, Any]]:
    """The configuration sections and the whole run configuration (a job's `config`, a version's)."""
    components = {name: dataclass_schema(cls, section=section, title=name, default="Default (a task may set its own)")
                  for section, (name, cls) in SECTIONS.items()}
    components["RunConfig"] = {
        "type": "object", "title": "RunConfig", "description": "The full run configuration: the task's defaults "
        "(which differ from the sections' defaults shown here) with the job's overrides.",
        "properties": {"task": {"type": "string", "enum": list(tasks.TASKS)},
                       **{section: {"$ref": REF + name} for section, (name, _) in SECTIONS.items()}},
        "required": ["task", *SECTIONS]}
    return components


def _title(name: str) -> str:
    return "".join(part.capitalize() for part in name.split("_"))


def prediction_components() -> dict[str, dict[str, Any]]:
    """From the task registry: `PredictInputItem` (each input shape some task reads), `PredictOptions` (each
    task's prediction options with their defaults), one `<Task>Output` and `<Task>Prediction` a task, and
    `Prediction`, the answer of predict: one of those, told apart by `task`."""
    components: dict[str, dict[str, Any]] = {}
    items: list[dict[str, Any]] = []
    options: dict[str, dict[str, Any]] = {}
    predictions: dict[str, str] = {}
    for name in tasks.TASKS:
        task = tasks.get(name)
        for kind in task.inputs:
            for shape in _alternatives(task.input_schema(kind)):
                if shape.get("type") == "object":      # by name, so that generators name its class
                    shape = {"$ref": _component(components, shape, f"{_title(name)}{_title(kind)}Input")}
                if shape not in items:
                    items.append(shape)
        if task.options_class is not None:
            for option, prop in dataclass_schema(task.options_class, default=f"{name}'s default")["properties"].items():
                if option in options:           # two tasks' option of one name: both defaults said
                    prop["description"] = f"{options[option]['description']} {prop['description']}"
                options[option] = prop
        output_name = _component(components, task.output_schema(), f"{_title(name)}Output")
        prediction_name = f"{_title(name)}Prediction"
        components[prediction_name] = {
            "type": "object", "description": f"The answer of a {name} model.",
            "properties": {"task": {"type": "string", "const": name},
                           "model": {"type": "string"},
                           "version": {"type": "integer", "description": "The version that answered."},
                           "outputs": {"type": "array", "items": {"$ref": output_name},
                                       "description": "One per input, in order."}},
            "required": ["task", "model", "version", "outputs"]}
        predictions[name] = REF + prediction_name
    components["PredictInputItem"] = {
        "description": "One input, in a shape the model's task and input kind read (its index names it in an "
                       "error): a text, a text split into tokens, a numeric series...",
        "anyOf": items}
    components["PredictOptions"] = {
        "type": "object", "properties": options, "additionalProperties": False,
        "description": "Prediction options, each with the default of the tasks that take it; a task refuses "
                       "those it does not take (most take none)."}
    components["Prediction"] = {
        "oneOf": [{"$ref": ref} for ref in predictions.values()],
        "discriminator": {"propertyName": "task", "mapping": predictions}}
    return components


def _component(components: dict[str, dict[str, Any]], schema: dict[str, Any], fallback: str) -> str:
    """`schema` among `components` under its title (else `fallback`; also when another schema has that title):
    the $ref to it."""
    schema = dict(schema)
    name = schema.pop("title", None) or fallback
    if components.get(name, schema) != schema:
        name = fallback
    components[name] = schema
    return REF + name


def _alternatives(schema: dict[str, Any]) -> list[dict[str, Any]]:
    """The shapes a oneOf/anyOf schema allows, each on its own (a text: a string, or {"tokens": [...]})."""
    for key in ("oneOf", "anyOf"):
        if key in schema and len(schema) == 1:
            return [shape for item in schema[key] for shape in _alternatives(item)]
    return [schema]


# Component schemas of JSON fields that serializers name with extend_schema_field({"$ref": REF + name}).
STATISTICS = {
    "LengthSummary": {"type": "object", "description": "Nearest-rank percentiles and the longest.",
                      "properties": {key: {"type": "integer"} for key in ("p50", "p90", "p99", "max")},
                      "required": ["p50", "p90", "p99", "max"]},
    "SplitStatistics": {
        "type": "object", "description": "The examples of one split: text (tokens) or numeric series (frames).",
        "properties": {
            "examples": {"type": "integer"},
            "tokens": {"type": "integer", "description": "Text: input tokens (words for raw text)."},
            "frames": {"type": "integer", "description": "Numeric series: frames."},
            "length": {"$ref": REF + "LengthSummary"},
            "length_histogram": {"type": "array", "description": "[low, high, count]: examples low to high long.",
                                 "items": {"type": "array", "items": {"type": "integer"},
                                           "minItems": 3, "maxItems": 3}},
            "labels": {"type": "object", "additionalProperties": {"type": "integer"},
                       "description": "Label or tag -> count (tagging, classification)."},
            "target_tokens": {"type": "integer", "description": "Translation: target tokens."},
            "target_length": {"$ref": REF + "LengthSummary"},
            "features": {"type": "integer", "description": "Numeric series: values a frame."},
            "mean": {"type": "array", "items": {"type": "number"}, "description": "Numeric series: per feature."},
            "std": {"type": "array", "items": {"type": "number"}, "description": "Numeric series: per feature."}},
        "required": ["examples", "length", "length_histogram"]},
    "DatasetStatistics": {
        "type": "object", "description": "Empty until the data set is validated.",
        "properties": {
            "splits": {"type": "object", "additionalProperties": {"$ref": REF + "SplitStatistics"},
                       "description": "train, dev, test: those the data set has."},
            "dev_split": {"type": "object", "description": "given: a dev file; split: training splits one off.",
                          "properties": {"dev": {"type": "string", "enum": ["given", "split"]},
                                         "dev_fraction": {"type": "number"}, "split_seed": {"type": "integer"}},
                          "required": ["dev"]}}},
    "Sha256Map": {"type": "object", "description": "The sha256 of each stored file, by file field.",
                  "additionalProperties": {"type": "string", "pattern": "^[0-9a-f]{64}$"}},
    "Metrics": {"type": "object", "description": "Metric name -> value (accuracy, macro_f1, entity_f1, bleu, "
                                                 "chrf, ...: those of the task).",
                "additionalProperties": {"type": "number"}},
    "Epoch": {
        "type": "object", "description": "One epoch of training; dev_<metric> for each dev metric of the task.",
        "properties": {"epoch": {"type": "integer"}, "train_loss": {"type": "number"},
                       "dev_loss": {"type": "number"}, "tokens_per_s": {"type": "number"},
                       "seconds": {"type": "number"}, "lr": {"type": "number"}, "is_best": {"type": "boolean"},
                       "attempt": {"type": "integer", "description": "The worker's attempt that trained it."}},
        "additionalProperties": {"type": "number"},
        "required": ["epoch", "train_loss", "tokens_per_s", "seconds", "lr", "is_best"]},
    "ServingRuntime": {
        "type": "object", "description": "What serves the version on a CPU (torch, onnx or onnx_int8), and its ONNX "
                                         "export: the check against PyTorch, timings, and the int8 graph's dev "
                                         "metrics where training.quantize asked for it.",
        "properties": {
            "runtime": {"type": "string", "enum": ["torch", "onnx", "onnx_int8"]},
            "onnx": {"type": "object", "properties": {
                "exported": {"type": "boolean"}, "checked": {"type": "boolean"}, "reason": {"type": "string"},
                "max_difference": {"type": "number"},
                "ms_batch_1": {"type": "object", "additionalProperties": {"type": "number"},
                               "description": "Median ms of one input, by runtime (torch, onnx)."},
                "ms_batch_16": {"type": "object", "additionalProperties": {"type": "number"}},
                "int8": {"type": "object", "properties": {
                    "made": {"type": "boolean"}, "reason": {"type": "string"}, "metric": {"type": "string"},
                    "dev_float": {"$ref": REF + "Metrics"}, "dev_int8": {"$ref": REF + "Metrics"},
                    "dev_change": {"$ref": REF + "Metrics"}, "within_tolerance": {"type": "boolean"},
                    "tolerance": {"type": "number"}, "ms_batch_1": {"type": "number"},
                    "ms_batch_16": {"type": "number"},
                    "bytes": {"type": "object", "additionalProperties": {"type": "integer"}}},
                    "required": ["made"]}}}},
        "required": ["runtime"]},
    "DataSplit": {
        "type": "object", "description": "How the training and dev examples were split, and the dev metric.",
        "properties": {"dev": {"type": "string", "enum": ["given", "split"]}, "dev_fraction": {"type": "number"},
                       "split_seed": {"type": "integer"}, "train_examples": {"type": "integer"},
                       "dev_examples": {"type": "integer"}, "metric": {"type": "string"},
                       "members": {"type": "array", "description": "An ensemble's members (training.ensemble): "
                                   "each one's seed, best epoch and dev metrics at it.",
                                   "items": {"type": "object", "required": ["seed", "best_epoch", "dev"],
                                             "properties": {"seed": {"type": "integer"},
                                                            "best_epoch": {"type": "integer"},
                                                            "dev": {"$ref": REF + "Metrics"}}}}}},
}


def ref(name: str, *, nullable: bool = False) -> dict[str, Any]:
    """For extend_schema_field: a component of this module, by name."""
    schema = {"$ref": REF + name}
    return {"oneOf": [schema, {"type": "null"}]} if nullable else schema


def typed(field_class: type[Field], schema: dict[str, Any], **kwargs: Any) -> Field:
    """A serializer field of `field_class` (a JSONField, a DictField) that the schema documents as `schema`: a
    subclass of its own, as drf-spectacular reads the annotation from the class."""
    return extend_schema_field(schema)(type(f"Typed{field_class.__name__}", (field_class,), {}))(**kwargs)


# -- the postprocessing hook ------------------------------------------------------------------------------------
def contract(result: dict[str, Any], generator: Any, request: Any, public: bool) -> dict[str, Any]:
    """SPECTACULAR_SETTINGS["POSTPROCESSING_HOOKS"]: the components above; the predict request's inputs and
    options and its answer typed from the tasks; request bodies closed to unknown fields (the API refuses them);
    the token scheme; component names without the serializers' Input/Output."""
    schemas = result["components"]["schemas"]
    for name, schema in schemas.items():
        if name.endswith("Request") and schema.get("type") == "object":
            schema["additionalProperties"] = False
    predict = schemas["PredictInputRequest"]["properties"]
    predict["inputs"]["items"] = {"$ref": REF + "PredictInputItem"}
    for body in ("PredictInputRequest", "EvaluateInputRequest"):
        schemas[body]["properties"]["options"] = {"$ref": REF + "PredictOptions"}
    del schemas["PredictOutput"]                        # its place is the Prediction below
    result = _renamed(result, {"PredictOutput": "Prediction"})
    schemas = result["components"]["schemas"]
    schemas.update(STATISTICS)
    schemas.update(config_components())
    schemas.update(prediction_components())
    result["components"].setdefault("securitySchemes", {})["tokenAuth"] = {
        "type": "http", "scheme": "bearer",
        "description": "The key from POST /api/auth/token/, as `Authorization: Bearer KEY` (or DRF's spelling, "
                       "`Authorization: Token KEY`)."}
    return _nulls(result)


def _nulls(node: Any) -> Any:
    """OpenAPI 3.0's `nullable` (DRF's pagination schema still says it) as 3.1 says it: null among the types."""
    if isinstance(node, list):
        return [_nulls(item) for item in node]
    if not isinstance(node, dict):
        return node
    node = {key: _nulls(value) for key, value in node.items()}
    if node.pop("nullable", False):
        kinds = node.get("type")
        if isinstance(kinds, str):
            node["type"] = [kinds, "null"]
        elif isinstance(kinds, list) and "null" not in kinds:
            node["type"] = [*kinds, "null"]
        elif kinds is None:
            node = {"anyOf": [node, {"type": "null"}]}
    return node


def _renamed(result: dict[str, Any], names: dict[str, str]) -> dict[str, Any]:
    """Components named for what they hold (Dataset, DatasetCreateRequest, Error), not for the serializer that
    made them (DatasetOutput, DatasetCreateInputRequest, ErrorOutput), and those in `names` so; every $ref
    follows."""
    schemas = result["components"]["schemas"]
    for name in schemas:
        new = name.replace("InputRequest", "Request").replace("Output", "")
        if new and new != name and new not in schemas and new not in names.values():
            names[name] = new
    result["components"]["schemas"] = {names.get(name, name): schema for name, schema in schemas.items()}
    refs = {REF + old: REF + new for old, new in names.items()}

    def follow(node: Any) -> Any:
        if isinstance(node, dict):
            return {key: refs.get(value, value) if key == "$ref" else follow(value) for key, value in node.items()}
        if isinstance(node, list):
            return [follow(item) for item in node]
        return node
    return follow(result)
