"""Tests for rnnservice/schema.py: the OpenAPI contract that client generators read (tests/contract uses it)."""
from __future__ import annotations

import dataclasses
from types import SimpleNamespace

import pytest
from openapi_spec_validator import validate

from rnnservice.ml import config, tasks
from rnnservice.ml.tasks.base import Task
from rnnservice.schema import dataclass_schema, prediction_components
from tests.openapi import api_schema

REF = "#/components/schemas/"


@pytest.fixture(scope="module")
def schema() -> dict:
    return api_schema()


def operations(schema: dict):
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            yield f"{method.upper()} {path}", operation


def test_it_is_a_valid_openapi_31_document(schema):
    assert schema["openapi"] == "3.1.0"
    validate(schema)


def test_each_operation_reads_one_content_type_and_says_what_it_does(schema):
    types = {name: list(op["requestBody"]["content"]) for name, op in operations(schema) if "requestBody" in op}
    assert types.pop("POST /api/datasets/") == ["multipart/form-data"]
    assert set(map(tuple, types.values())) == {("application/json",)}
    for name, operation in operations(schema):
        assert operation["summary"] and operation["operationId"], name
        for code, response in operation["responses"].items():
            assert response["description"], f"{name} {code}"
            if code >= "400":
                assert response["content"]["application/json"]["schema"] == {"$ref": REF + "Error"}, f"{name} {code}"


def test_request_bodies_refuse_unknown_fields(schema):
    bodies = [name for name in schema["components"]["schemas"] if name.endswith("Request")]
    assert {"PredictRequest", "EvaluateRequest", "JobLaunchRequest", "AliasRequest",
            "DatasetCreateRequest"} <= set(bodies)
    assert all(schema["components"]["schemas"][name]["additionalProperties"] is False for name in bodies)


def test_predict_is_typed_from_the_tasks(schema):
    components = schema["components"]["schemas"]
    items = components["PredictInputItem"]["anyOf"]
    assert {"type": "string", "minLength": 1, "description": "A text; the model's tokenizer splits it."} in items
    assert {"$ref": REF + "TokensInput"} in items and {"$ref": REF + "SeriesInput"} in items
    answer = components["Prediction"]
    assert answer["discriminator"]["propertyName"] == "task"
    assert set(answer["discriminator"]["mapping"]) == set(tasks.TASKS)
    assert components["ClassificationOutput"]["required"] == ["label", "probabilities"]
    assert components["ClassificationPrediction"]["properties"]["task"] == {"type": "string", "const": "classification"}
    predict = schema["paths"]["/api/models/{name}/predict/"]["post"]
    assert predict["responses"]["200"]["content"]["application/json"]["schema"] == {"$ref": REF + "Prediction"}
    options = components["PredictOptions"]["properties"]
    assert options["beam_size"]["type"] == "integer"
    assert "translation's default: 5." in options["beam_size"]["description"]


class EchoTask(Task):
    """A task that is only a name and schemas: enough for the contract."""

    name, inputs = "echo", ("tokens",)

    def input_schema(self, input):
        return {"type": "object", "title": "EchoInput", "required": ["echo"],
                "properties": {"echo": {"type": "string"}}}

    def output_schema(self):
        return {"type": "object", "required": ["echoed"], "properties": {"echoed": {"type": "string"}}}


def test_a_new_task_appears_in_the_contract_by_being_registered(monkeypatch):
    monkeypatch.setitem(tasks.MODULES, "echo", "tests.test_schema_echo")
    monkeypatch.setattr(tasks, "TASKS", (*tasks.TASKS, "echo"))
    monkeypatch.setitem(__import__("sys").modules, "tests.test_schema_echo", SimpleNamespace(TASK=EchoTask()))
    tasks.get.cache_clear()
    try:
        components = prediction_components()
    finally:
        tasks.get.cache_clear()
    assert components["Prediction"]["discriminator"]["mapping"]["echo"] == REF + "EchoPrediction"
    assert components["EchoPrediction"]["properties"]["outputs"]["items"] == {"$ref": REF + "EchoOutput"}
    assert {"$ref": REF + "EchoInput"} in components["PredictInputItem"]["anyOf"]


def test_the_configuration_sections_come_from_the_dataclasses(schema):
    components = schema["components"]["schemas"]
    training = components["TrainingConfig"]["properties"]
    assert list(training) == [field.name for field in dataclasses.fields(config.TrainConfig)]
    assert training["epochs"] == {"type": "integer", "minimum": 1, "maximum": 10_000,
                                  "description": "Default (a task may set its own): 20."}
    assert components["ArchitectureConfig"]["properties"]["cell"]["enum"] == list(config.CELLS)
    assert components["ArchitectureConfig"]["properties"]["crf"]["type"] == ["boolean", "null"]
    launch = components["JobLaunchRequest"]["properties"]
    assert launch["training"]["allOf"] == [{"$ref": REF + "TrainingConfig"}]
    assert components["Job"]["properties"]["config"]["allOf"] == [{"$ref": REF + "RunConfig"}]
    assert components["Job"]["properties"]["epochs"]["items"] == {"$ref": REF + "Epoch"}


def test_what_may_be_null_or_left_out_says_so(schema):
    components = schema["components"]["schemas"]
    assert components["Job"]["properties"]["version"] == {"oneOf": [{"$ref": REF + "Version"}, {"type": "null"}],
                                                          "readOnly": True}
    upload = components["DatasetCreateRequest"]
    assert "format" not in upload["required"] and "null" not in str(upload["properties"]["format"])
    assert components["AliasRequest"]["properties"]["alias"]["pattern"] == "^[a-z][a-z0-9_-]{0,49}$"
    assert schema["components"]["securitySchemes"]["tokenAuth"]["scheme"] == "bearer"


@dataclasses.dataclass
class Sampling:
    columns: list[str] = dataclasses.field(default_factory=list)
    weights: dict[str, float] = dataclasses.field(default_factory=dict)
    seed: int | None = None
    ratio: float = 0.5


def test_a_dataclass_of_any_json_types_is_a_schema_generators_read():
    assert dataclass_schema(Sampling)["properties"] == {
        "columns": {"type": "array", "items": {"type": "string"}, "description": "Default: []."},
        "weights": {"type": "object", "additionalProperties": {"type": "number"}, "description": "Default: {}."},
        "seed": {"type": ["integer", "null"], "description": "Default: null."},
        "ratio": {"type": "number", "description": "Default: 0.5."}}
