"""Request-body parsers of the API: DRF's JSON and form parsers, bounded. The body's size is checked against its
Content-Length before a byte is read, and again as it is read; a JSON body's nesting depth is measured before it
is parsed, since Python's parser recurses once a level (a thousand levels was a RecursionError: a 500). Each
refusal is a LimitExceeded (a 400) that names its setting. Uploads (multipart) keep their own limits
(apps/datasets/uploads.py)."""
from __future__ import annotations

import io
import re
from typing import IO, Any

import numpy as np
from django.conf import settings
from django.http import QueryDict
from rest_framework import parsers

from rnnservice.errors import LimitExceeded

# A JSON string, escapes included, in one pass of the regex engine (no backtracking alternation per character).
_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"')
# Opening brackets become 1, closing ones -1 (as int8: 255), anything else is dropped.
_STEPS = bytes.maketrans(b"[{]}", b"\x01\x01\xff\xff")
_NOT_BRACKETS = bytes(sorted(set(range(256)) - set(b"[]{}")))


def json_depth(body: bytes) -> int:
    """How deeply arrays and objects nest in a JSON text (0 for a scalar), counted without parsing it: the
    brackets outside strings, as +1 and -1, summed by numpy, so a megabyte of brackets costs milliseconds."""
    steps = _STRING.sub(b"", body).translate(_STEPS, _NOT_BRACKETS)
    if not steps:
        return 0
    return max(0, int(np.frombuffer(steps, dtype=np.int8).cumsum(dtype=np.int64).max()))


def read_body(stream: IO[bytes] | None, parser_context: dict[str, Any] | None) -> bytes:
    """The request body, at most RNNSERVICE_MAX_BODY_BYTES: a larger Content-Length is refused unread, and a body
    that runs past it (no or a false Content-Length) is refused as soon as the limit is passed."""
    maximum = settings.RNNSERVICE_MAX_BODY_BYTES
    request = (parser_context or {}).get("request")
    meta = request.META if request is not None else {}
    try:
        declared = int(meta.get("CONTENT_LENGTH") or 0)
    except ValueError:
        declared = 0
    if declared > maximum:
        raise LimitExceeded("RNNSERVICE_MAX_BODY_BYTES", declared, maximum, what="the request body, in bytes")
    body = stream.read(maximum + 1) if stream is not None else b""
    if len(body) > maximum:
        raise LimitExceeded("RNNSERVICE_MAX_BODY_BYTES", len(body), maximum,
                            what="the request body, in bytes (at least)")
    return body


def check_json_depth(body: bytes) -> None:
    """At most RNNSERVICE_MAX_JSON_DEPTH levels of arrays and objects."""
    maximum = settings.RNNSERVICE_MAX_JSON_DEPTH
    depth = json_depth(body)
    if depth > maximum:
        raise LimitExceeded("RNNSERVICE_MAX_JSON_DEPTH", depth, maximum,
                            what="the nesting depth of the JSON body")


# Not subclasses of DRF's parsers: for those, DRF reads request.body whole before calling them (with only Django's
# DATA_UPLOAD_MAX_MEMORY_SIZE as a bound, refused outside the API's error answers). These are handed the request's
# stream, read it within RNNSERVICE_MAX_BODY_BYTES, and give the bytes to DRF's parser.
class JSONParser(parsers.BaseParser):
    """DRF's JSON parser after the size and depth checks."""

    media_type, renderer_class = parsers.JSONParser.media_type, parsers.JSONParser.renderer_class

    def parse(self, stream: IO[bytes] | None, media_type: str | None = None,
              parser_context: dict[str, Any] | None = None) -> Any:
        body = read_body(stream, parser_context)
        check_json_depth(body)
        return parsers.JSONParser().parse(io.BytesIO(body), media_type, parser_context)


class FormParser(parsers.BaseParser):
    """DRF's form parser (application/x-www-form-urlencoded) after the size check."""

    media_type = parsers.FormParser.media_type

    def parse(self, stream: IO[bytes] | None, media_type: str | None = None,
              parser_context: dict[str, Any] | None = None) -> QueryDict:
        body = read_body(stream, parser_context)
        return parsers.FormParser().parse(io.BytesIO(body), media_type, parser_context)
