"""DRF glue shared by the apps: the one exception handler, pagination, and who may see which rows."""
from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

from django.db.models import Model, ProtectedError, QuerySet
from rest_framework import status
from rest_framework.pagination import PageNumberPagination
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.serializers import Serializer
from rest_framework.views import APIView
from rest_framework.views import exception_handler as drf_exception_handler

from rnnservice.errors import ServiceError
from rnnservice.ml.errors import ConfigError, FormatError, MLError


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
    if isinstance(exc, ProtectedError):      # a delete of a row others still point at (a dataset jobs trained on)
        users = Counter(row._meta for row in exc.protected_objects)
        used_by = ", ".join(sorted(f"{count} {meta.verbose_name if count == 1 else meta.verbose_name_plural}"
                                   for meta, count in users.items()))
        return Response({"detail": f"it is still used by {used_by}; delete those first"},
                        status=status.HTTP_409_CONFLICT)
    return drf_exception_handler(exc, context)


class Pagination(PageNumberPagination):
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 500


def paginated_response(*, queryset: QuerySet, serializer_class: type[Serializer], request: Request,
                       view: APIView) -> Response:
    """One page of `queryset` as {"count", "next", "previous", "results"}; the view's pagination_class decides."""
    paginator = view.pagination_class()
    page = paginator.paginate_queryset(queryset, request, view=view)
    return paginator.get_paginated_response(serializer_class(page, many=True).data)


def visible_to(queryset: QuerySet[Model], user: Any, *, owner_field: str = "owner") -> QuerySet[Model]:
    """The rows `user` may see: their own; staff see all. Anything else is absent, so a lookup by id
    answers 404, never 403, and does not confirm that someone else's object exists."""
    if user.is_staff:
        return queryset
    if not user.is_authenticated:
        return queryset.none()
    return queryset.filter(**{owner_field: user})
