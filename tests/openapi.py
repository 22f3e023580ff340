"""The API's answers checked against its own OpenAPI schema (rnnservice/schema.py): tests/conftest.py runs every
response the test clients get under /api/ through check_response, errors included."""
from __future__ import annotations

import functools
import json
import re
from typing import Any

from django.http import HttpResponse
from drf_spectacular.generators import SchemaGenerator
from jsonschema import Draft202012Validator

NOT_THE_API = ("/api/schema/", "/api/docs/", "/api/redoc/")      # the schema and its pages, not operations
ERROR = {"$ref": "#/components/schemas/Error"}


@functools.cache
def api_schema() -> dict[str, Any]:
    """The schema /api/schema/ serves, made once per test run."""
    return json.loads(json.dumps(SchemaGenerator().get_schema(request=None, public=True), default=str))


@functools.cache
def _operations() -> list[tuple[re.Pattern[str], str, dict[str, Any]]]:
    """(pattern, path, path item) of each path of the schema: /api/models/{name}/ matches /api/models/ner/."""
    return [(re.compile(re.sub(r"\{[^}/]+\}", "[^/]+", path) + r"\Z"), path, item)
            for path, item in api_schema()["paths"].items()]


@functools.cache
def _validator(pointer: str) -> Draft202012Validator:
    """A validator of the schema at `pointer` (a JSON pointer into the API schema), whose $refs reach the
    schema's components."""
    node: Any = api_schema()
    for part in pointer.lstrip("/").split("/"):
        node = node[part.replace("~1", "/").replace("~0", "~")]
    return Draft202012Validator({**node, "components": api_schema()["components"]})


def check_response(response: HttpResponse) -> None:
    """Raise AssertionError unless `response`, from a request under /api/, is one the schema describes: a status
    the operation declares (an undeclared 4xx or 5xx, a 405, must still be an Error), and a JSON body that its
    schema validates. Other paths pass untouched."""
    path, method = response.request["PATH_INFO"], response.request["REQUEST_METHOD"].lower()
    if not path.startswith("/api/") or path.startswith(NOT_THE_API) or 300 <= response.status_code < 400:
        return                                  # a redirect (to https) comes before the API
    if response.status_code == 204 or method == "head":
        assert not response.content, f"{method.upper()} {path}: a {response.status_code} with a body"
        return
    assert response["Content-Type"] == "application/json", \
        f"{method.upper()} {path} answered {response.status_code} in {response['Content-Type']}, not JSON"
    body = json.loads(response.content)
    template, item = next(((template, item) for pattern, template, item in _operations() if pattern.match(path)),
                          ("", {}))
    status = str(response.status_code)
    if method in item and status in item[method]["responses"]:
        escaped = template.replace("~", "~0").replace("/", "~1")             # a JSON pointer's escapes
        pointer = f"/paths/{escaped}/{method}/responses/{status}/content/application~1json/schema"
    else:
        assert response.status_code >= 400, f"{method.upper()} {path}: {status} is not in the schema"
        pointer = "/components/schemas/Error"
    errors = sorted(_validator(pointer).iter_errors(body), key=lambda error: list(error.absolute_path))
    assert not errors, (f"{method.upper()} {path} answered {status} with a body the schema refuses: "
                        f"{errors[0].message} at {'/'.join(map(str, errors[0].absolute_path)) or 'the top'}: "
                        f"{json.dumps(body)[:500]}")
