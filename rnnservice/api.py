"""DRF glue shared by the apps: the one exception handler and the error shape it answers with, and pagination.
The OpenAPI schema is rnnservice/schema.py's; who may see which rows, rnnservice/visibility.py's."""
from __future__ import annotations

import logging
import re
import sys
from collections import Counter
from collections.abc import Mapping
from typing import Any

from django.conf import settings
from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent, TooManyFilesSent
from django.db import InterfaceError, OperationalError
from django.db.models import ProtectedError, QuerySet
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views import defaults
from drf_spectacular.utils import extend_schema_serializer
from rest_framework import serializers, status
from rest_framework.exceptions import UnsupportedMediaType, ValidationError
from rest_framework.pagination import PageNumberPagination
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.serializers import Serializer
from rest_framework.settings import api_settings
from rest_framework.views import APIView
from rest_framework.views import exception_handler as drf_exception_handler

from rnnservice.errors import ServiceError, core_error
from rnnservice.ml.errors import MLError
from rnnservice.throttling import RateLimited

logger = logging.getLogger(__name__)
DATABASE_RETRY_AFTER = 5       # seconds: what a 503 for an unreachable database tells clients to wait
DATABASE_UNREACHABLE = (OperationalError, InterfaceError)
# The largest row id (a BigAutoField) and version number (a PositiveIntegerField) any database stores. Larger numbers
# from a client are refused before a query (a 404 for an id in a route, a 400 for a field): SQLite's driver and a
# prepared query overflow on them, a 500.
MAX_ID = 2**63 - 1
MAX_VERSION = 2**31 - 1
# What Django refuses by a limit of its own settings, before a view runs: the setting each exception means.
DJANGO_LIMITS = {RequestDataTooBig: "DATA_UPLOAD_MAX_MEMORY_SIZE", TooManyFieldsSent: "DATA_UPLOAD_MAX_NUMBER_FIELDS",
                 TooManyFilesSent: "DATA_UPLOAD_MAX_NUMBER_FILES"}
# How WhiteNoise's (Django's) manifest storage says a page names a static file that collectstatic did not collect.
MISSING_STATIC = "Missing staticfiles manifest entry"
DATABASE_UNAVAILABLE = {"detail": "the database cannot be reached; try again in a few seconds",
                        "unavailable": "database"}


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """REST_FRAMEWORK["EXCEPTION_HANDLER"]: every error answer in one shape (ErrorOutput): `detail`, one sentence,
    and what it concerns where it applies (`field`, `index`, `line`, `file`, `limit`), with `errors` when several
    fields are at fault. The core's errors come through core_error, which names the file by the name its user
    knows, never by a server path. Anything unhandled is a 500 (server_error)."""
    if isinstance(exc, MLError):
        exc = core_error(exc)
    if isinstance(exc, ServiceError):
        return Response({"detail": exc.message, **exc.extra}, status=exc.status)
    if isinstance(exc, ProtectedError):      # a delete of a row others still point at (a dataset jobs trained on)
        users = Counter(row._meta for row in exc.protected_objects)
        used_by = ", ".join(sorted(f"{count} {meta.verbose_name if count == 1 else meta.verbose_name_plural}"
                                   for meta, count in users.items()))
        return Response({"detail": f"it is still used by {used_by}; delete those first"},
                        status=status.HTTP_409_CONFLICT)
    if isinstance(exc, DATABASE_UNREACHABLE):
        # The database cannot be reached (refused, dropped, timed out; on SQLite, locked past its timeout): the same
        # request may well succeed in a moment, so a 503 that says so, never a 500. The broken connection is
        # closed when the request ends (Django's close_if_unusable_or_obsolete) and the next request opens another.
        request = context.get("request")
        logger.warning("%s: the database cannot be reached: %s",
                       f"{request.method} {request.path}" if request is not None else "a request", exc)
        return Response(DATABASE_UNAVAILABLE, status=status.HTTP_503_SERVICE_UNAVAILABLE,
                        headers={"Retry-After": str(DATABASE_RETRY_AFTER)})
    response = drf_exception_handler(exc, context)      # validation errors, 401, 403, 404, 405, 415, 429
    if response is None:
        return None
    if isinstance(exc, ValidationError):
        response.data = validation_error_body(exc.detail)
    elif isinstance(exc, RateLimited):
        response.data = {"detail": str(exc.detail), "limit": exc.limit, "retry_after": exc.wait}
    elif isinstance(exc, UnsupportedMediaType):
        view = context.get("view")
        taken = ", ".join(parser.media_type for parser in view.get_parsers()) if view is not None else ""
        response.data = {"detail": f"{exc.detail.rstrip('.')}; this endpoint takes {taken}"}
    else:                                   # DRF's own (an Http404 it made a NotFound) already says it in `detail`
        detail = response.data.get("detail") if isinstance(response.data, dict) else None
        response.data = {"detail": str(detail or exc)}
    return response


def validation_error_body(detail: Any) -> dict[str, Any]:
    """DRF's validation errors ({"name": ["This field is required."], "inputs": {"0": [...]}}) in the one shape:
    the first problem as `detail` with its `field` (and `index` in a list), and all of them under `errors` when
    there are several."""
    errors = []
    for path, message in _problems(detail, ()):
        names = [part for part in path if isinstance(part, str) and part != api_settings.NON_FIELD_ERRORS_KEY]
        indexes = [part for part in path if isinstance(part, int)]
        shown = "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in path
                        if part != api_settings.NON_FIELD_ERRORS_KEY).lstrip(".")
        error: dict[str, Any] = {"detail": f"{shown}: {message}" if shown else message}
        if names:
            error["field"] = ".".join(names)
        if indexes:
            error["index"] = indexes[-1]
        errors.append(error)
    if not errors:
        return {"detail": "Invalid input."}
    if len(errors) == 1:
        return errors[0]
    return {**errors[0], "detail": f"{errors[0]['detail'].rstrip('.')} (and {len(errors) - 1} more: see errors).",
            "errors": errors}


def _problems(detail: Any, path: tuple[str | int, ...]) -> list[tuple[tuple[str | int, ...], str]]:
    """(path, message) of each message in DRF's nested validation errors; a list child's key is its index."""
    if isinstance(detail, dict):
        return [found for key, value in detail.items()
                for found in _problems(value, (*path, int(key) if str(key).isdigit() else str(key)))]
    if isinstance(detail, list):
        if all(isinstance(item, str) for item in detail):
            return [(path, str(item)) for item in detail]
        return [found for index, item in enumerate(detail) if item for found in _problems(item, (*path, index))]
    return [(path, str(detail))]


class StrictCharField(serializers.CharField):
    """A CharField that takes strings only. DRF's turns a number into its digits ({"alias": 5} would name an alias
    "5"), which the schema, saying string, promises to refuse."""

    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


class StrictInput(serializers.Serializer):
    """A request body that refuses the fields it does not know, each by name: a misspelt field ("versoin",
    "splitt", "formatt") or a misplaced one ({"epochs": 3} at the top) must not be dropped in silence."""

    tolerated: frozenset[str] = frozenset()      # names a client may send along, read by no field
    unknown_message = "unknown field; the fields are {fields}"

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, Mapping):
            unknown = sorted(set(data) - set(self.fields) - self.tolerated)
            if unknown:
                message = self.unknown_message.format(fields=", ".join(self.fields))
                raise ValidationError({name: [message] for name in unknown})
        return super().to_internal_value(data)


class ErrorItem(serializers.Serializer):
    """One problem of a request: `detail` says what was wrong; the other fields, where they apply, what it
    concerns."""

    detail = serializers.CharField(help_text="One sentence: what was wrong.")
    field = serializers.CharField(required=False, help_text="The request field at fault, e.g. name, options.beam_size.")
    index = serializers.IntegerField(required=False, help_text="The index of the list item at fault (an input).")
    file = serializers.CharField(required=False, help_text="The file field of a data set at fault (train, dev...).")
    line = serializers.IntegerField(required=False, help_text="The line of that file at fault, 1-based.")
    limit = serializers.CharField(required=False, help_text="The setting whose limit the request exceeds.")


@extend_schema_serializer(component_name="Error")
class ErrorOutput(ErrorItem):
    """Every error answer, 4xx and 5xx: ErrorItem's fields, `errors` when several fields are at fault, and what
    a limit, a rate or an unavailable model version adds."""

    errors = ErrorItem(many=True, required=False, help_text="Each problem, when there are several; `detail` "
                                                            "and `field` above are the first one's.")
    value = serializers.IntegerField(required=False, help_text="The request's value of what `limit` caps.")
    maximum = serializers.IntegerField(required=False, help_text="The limit.")
    retry_after = serializers.IntegerField(required=False, help_text="429: seconds to wait, as in Retry-After.")
    unavailable = serializers.CharField(required=False, help_text="503: database, when it cannot be reached.")
    model = serializers.CharField(required=False, help_text="503: the model whose version cannot be used.")
    version = serializers.IntegerField(required=False, help_text="503: the version that cannot be used.")


class Pagination(PageNumberPagination):
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 500

    def get_page_size(self, request: Request) -> int:
        """page_size when given, at most max_page_size; a 400 for one that is not a whole number of at least 1
        (DRF would quietly give a page of the default size)."""
        value = request.query_params.get(self.page_size_query_param)
        if value is None:
            return self.page_size
        if not re.fullmatch(r"[0-9]{1,9}", value) or int(value) < 1:
            raise ServiceError(f"page_size must be a whole number from 1 to {self.max_page_size}, not {value!r}",
                               field="page_size")
        return min(int(value), self.max_page_size)


def not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    """handler404: under /api/ a JSON error like every other answer there (a URL no route matches, such as
    /api/datasets/x/); Django's page elsewhere."""
    if request.path.startswith("/api/"):
        return JsonResponse({"detail": "Not found."}, status=status.HTTP_404_NOT_FOUND)
    return defaults.page_not_found(request, exception)


def bad_request(request: HttpRequest, exception: Exception) -> HttpResponse:
    """handler400, for what Django refuses before a view runs (a body over DATA_UPLOAD_MAX_MEMORY_SIZE): under /api/
    a JSON error that names the setting whose limit the request passed, when it was one."""
    if request.path.startswith("/api/"):
        limit = next((name for kind, name in DJANGO_LIMITS.items() if isinstance(exception, kind)), None)
        if limit is None:
            return JsonResponse({"detail": "Bad request."}, status=status.HTTP_400_BAD_REQUEST)
        return JsonResponse({"detail": f"{exception}; the limit is {getattr(settings, limit):,} ({limit})",
                             "limit": limit, "maximum": getattr(settings, limit)}, status=status.HTTP_400_BAD_REQUEST)
    return defaults.bad_request(request, exception)


def server_error(request: HttpRequest) -> HttpResponse:
    """handler500: the clients of /api/ read JSON even from a bug of ours; the traceback goes to the log only.

    An unreachable database raised outside DRF's views (the admin's pages, a middleware) is a 503 with Retry-After,
    as the API answers it: Django calls this handler while it handles the exception, so sys.exc_info() holds it.
    So is a page whose static files were never collected (the admin's, without `collectstatic`), saying so.
    """
    if isinstance(sys.exc_info()[1], DATABASE_UNREACHABLE):
        headers = {"Retry-After": str(DATABASE_RETRY_AFTER)}
        if request.path.startswith("/api/"):
            return JsonResponse(DATABASE_UNAVAILABLE, status=status.HTTP_503_SERVICE_UNAVAILABLE, headers=headers)
        return HttpResponse("<!doctype html><title>Service unavailable</title><h1>Service unavailable</h1>"
                            f"<p>The database cannot be reached. Try again in {DATABASE_RETRY_AFTER} seconds.</p>",
                            status=status.HTTP_503_SERVICE_UNAVAILABLE, headers=headers)
    error = sys.exc_info()[1]
    if isinstance(error, ValueError) and str(error).startswith(MISSING_STATIC):
        # A page that names its static files through collectstatic's manifest, on a server where it never ran.
        logger.error("static files not collected: run `python manage.py collectstatic` (STATIC_ROOT %s)",
                     settings.STATIC_ROOT)
        return HttpResponse("<!doctype html><title>Service unavailable</title><h1>Service unavailable</h1><p>The "
                            "static files (styles, scripts) have not been collected on this server: an operator must "
                            "run <code>python manage.py collectstatic</code>.</p>",
                            status=status.HTTP_503_SERVICE_UNAVAILABLE)
    if request.path.startswith("/api/"):
        return JsonResponse({"detail": "Internal server error."}, status=status.HTTP_500_INTERNAL_SERVER_ERROR)
    return defaults.server_error(request)


def paginated_response(*, queryset: QuerySet, serializer_class: type[Serializer], request: Request,
                       view: APIView) -> Response:
    """One page of `queryset` as {"count", "next", "previous", "results"}; the view's pagination_class decides."""
    paginator = view.pagination_class()
    page = paginator.paginate_queryset(queryset, request, view=view)
    return paginator.get_paginated_response(serializer_class(page, many=True).data)
