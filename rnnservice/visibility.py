"""Who may see which rows: the one rule that every selector applies (no DRF, so the admin, commands and services
use it too)."""
from __future__ import annotations

from typing import Any

from django.db.models import Model, QuerySet


def visible_to(queryset: QuerySet[Model], user: Any, *, owner_field: str = "owner") -> QuerySet[Model]:
    """The rows `user` may see: their own; staff see all. Anything else is absent, so a lookup by id
    answers 404, never 403, and does not confirm that someone else's object exists."""
    if user.is_staff:
        return queryset
    if not user.is_authenticated:
        return queryset.none()
    return queryset.filter(**{owner_field: user})
