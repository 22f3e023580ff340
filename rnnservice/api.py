"""DRF glue shared by the apps: the one exception handler and the error shapes it answers with, the OpenAPI
schema class that documents them, and pagination."""
from __future__ import annotations

import logging
import re
import sys
from collections import Counter
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent, TooManyFilesSent
from django.db import InterfaceError, OperationalError
from django.db.models import ProtectedError, QuerySet
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views import defaults
from drf_spectacular.openapi import AutoSchema
from rest_framework import serializers, status
from rest_framework.authentication import SessionAuthentication
from rest_framework.pagination import PageNumberPagination
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.serializers import Serializer
from rest_framework.views import APIView
from rest_framework.views import exception_handler as drf_exception_handler

from rnnservice.errors import ServiceError
from rnnservice.ml.errors import ConfigError, FormatError, MLError
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
    """REST_FRAMEWORK["EXCEPTION_HANDLER"]: service and core errors become a 400 that says what was wrong.

    A FormatError names the file by its base name only: the server's folders are no business of the client.
    Anything else goes to DRF's handler (validation errors, 401, 403, 404) or, unhandled, to a 500.
    """
    if isinstance(exc, ServiceError):
        return Response({"detail": exc.message, **exc.extra}, status=exc.status)
    if isinstance(exc, FormatError):
        body = {"detail": f"{Path(exc.path).name}, line {exc.line}: {exc.problem}", "line": exc.line}
        return Response(body, status=status.HTTP_400_BAD_REQUEST)
    if isinstance(exc, ConfigError):
        return Response({"detail": str(exc), "field": exc.field}, status=status.HTTP_400_BAD_REQUEST)
    if isinstance(exc, MLError):
        return Response({"detail": str(exc)}, status=status.HTTP_400_BAD_REQUEST)
    if isinstance(exc, RateLimited):
        response = drf_exception_handler(exc, context)          # sets Retry-After
        response.data = {"detail": exc.detail, "limit": exc.limit, "retry_after": exc.wait}
        return response
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
    return drf_exception_handler(exc, context)


class StrictCharField(serializers.CharField):
    """A CharField that takes strings only. DRF's turns a number into its digits ({"alias": 5} would name an alias
    "5"), which the schema, saying string, promises to refuse."""

    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


class ErrorOutput(serializers.Serializer):
    """An error: `detail` says what was wrong."""

    detail = serializers.CharField()


class BadRequestOutput(serializers.Serializer):
    """A 400. Either `detail` with what it concerns (a field, a limit, an input's index, a file's line), or,
    from request validation, a list of messages under each field at fault: {"name": ["This field is required."]}.
    """

    detail = serializers.CharField(required=False)
    field = serializers.CharField(required=False, help_text="The request field at fault, e.g. options.beam_size.")
    index = serializers.IntegerField(required=False, help_text="The index of the input at fault.")
    limit = serializers.CharField(required=False, help_text="The setting whose limit the request exceeds.")
    value = serializers.IntegerField(required=False, help_text="The request's value of what the limit caps.")
    maximum = serializers.IntegerField(required=False, help_text="The limit.")
    file = serializers.CharField(required=False, help_text="The file field of a dataset at fault.")
    line = serializers.IntegerField(required=False, allow_null=True, help_text="The line at fault, 1-based.")


class ThrottledOutput(ErrorOutput):
    """A 429: too many requests; Retry-After says when to try again."""

    limit = serializers.CharField(help_text="The setting whose rate was exceeded.")
    retry_after = serializers.IntegerField(help_text="Seconds to wait, as in the Retry-After header.")


class UnavailableOutput(ErrorOutput):
    """A 503: the database cannot be reached (try again after Retry-After), or the stored files of a model
    version are missing or not the ones registered (other versions still answer)."""

    unavailable = serializers.CharField(required=False, help_text="database: it cannot be reached.")
    model = serializers.CharField(required=False, help_text="The model whose version cannot be used.")
    version = serializers.IntegerField(required=False, help_text="The version that cannot be used.")


class ApiSchema(AutoSchema):
    """drf-spectacular's AutoSchema, plus the error answers an operation can give, found from its view.

    Responses the view declares itself (a 409) are kept; these are added where missing.
    """

    def _get_response_bodies(self, direction: str = "response") -> dict[str, Any]:
        responses = super()._get_response_bodies(direction)
        for code, serializer in self._error_responses().items():
            if code not in responses:
                responses[code] = self._get_response_for_code(serializer, code, direction=direction)
        for code, required in (("429", True), ("503", False)):       # 503: for the database only
            if code in responses:
                responses[code]["headers"] = {"Retry-After": {"schema": {"type": "integer"}, "required": required,
                                                              "description": "Seconds to wait before trying again."}}
        return responses

    def _error_responses(self) -> dict[str, type[Serializer]]:
        view, changes = self.view, self.method not in ("GET", "HEAD", "OPTIONS")
        guarded = not all(isinstance(permission, AllowAny) for permission in view.get_permissions())
        csrf = any(isinstance(auth, SessionAuthentication) for auth in view.get_authenticators())
        paged = self.method == "GET" and getattr(view, "pagination_class", None) is not None
        body = self.method in ("POST", "PUT", "PATCH") and self.get_request_serializer() is not None
        errors = {
            "400": (BadRequestOutput, changes or paged),         # refused input or page size, or a change refused
            "401": (ErrorOutput, guarded),                       # no or bad credentials
            "403": (ErrorOutput, guarded and changes and csrf),  # a session's request without its CSRF token
            "404": (ErrorOutput, "{" in self.path or paged),     # not yours, or no such object or page
            "415": (ErrorOutput, body),                          # a body in a media type we do not read
            "429": (ThrottledOutput, bool(view.throttle_classes)),
            "503": (UnavailableOutput, True),                    # the database is down; a model version is broken
        }
        return {code: serializer for code, (serializer, applies) in errors.items() if applies}


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
