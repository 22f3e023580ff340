"""Side-by-side tables for the admin's compare pages (jobs, versions): nested dicts flattened to dotted names,
one row per name, each value to 4 significant digits, and the rows whose values differ marked."""
from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlencode

from django.contrib import messages
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse

from rnnservice.display import significant


def flatten(data: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """{"architecture": {"cell": "gru"}} as {"architecture.cell": "gru"}; lists stay whole values."""
    flat: dict[str, Any] = {}
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            flat.update(flatten(value, f"{name}."))
        else:
            flat[name] = value
    return flat


def side_by_side(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """[{"name", "values": [one shown value per item], "differs"}] over every name any item has, sorted."""
    flat = [flatten(item or {}) for item in items]
    rows = []
    for name in sorted({name for item in flat for name in item}):
        values = [item.get(name, "") for item in flat]
        shown = [_shown(value) for value in values]
        differs = len({json.dumps(value, sort_keys=True) for value in values}) > 1
        rows.append({"name": name, "values": shown, "differs": differs})
    return rows


def _shown(value: Any) -> str:
    if isinstance(value, (list, dict)):
        return json.dumps(value, ensure_ascii=False)
    return "" if value is None else significant(value)


MAX_COMPARED = 8            # columns that still fit a 1280 px screen


def compare_redirect(model_admin: Any, request: HttpRequest, queryset: QuerySet) -> HttpResponseRedirect | None:
    """The list action's answer: the compare page of the selected rows, or a message when fewer than two."""
    ids = sorted(queryset.values_list("pk", flat=True))
    if not 2 <= len(ids) <= MAX_COMPARED:
        model_admin.message_user(request, f"Select 2 to {MAX_COMPARED} to compare, not {len(ids)}.", messages.WARNING)
        return None
    opts = model_admin.model._meta
    url = reverse(f"admin:{opts.app_label}_{opts.model_name}_compare")
    return HttpResponseRedirect(f"{url}?{urlencode({'ids': ','.join(map(str, ids))})}")


def compared(model_admin: Any, request: HttpRequest) -> list[Any]:
    """The rows named by ?ids=1,2,3 that the user may see, in that order; 404 for a bad or unseen id."""
    try:
        ids = [int(part) for part in request.GET.get("ids", "").split(",") if part]
    except ValueError as exc:
        raise Http404("ids: whole numbers separated by commas") from exc
    found = model_admin.get_queryset(request).in_bulk(ids)
    if not ids or len(ids) > MAX_COMPARED or set(found) != set(ids):
        raise Http404(f"ids: 1 to {MAX_COMPARED} that you may see")
    return [found[pk] for pk in ids]


def compare_page(model_admin: Any, request: HttpRequest, *, columns: list[dict[str, str]], runs: list[dict],
                 tables: list[dict[str, Any]]) -> TemplateResponse:
    opts = model_admin.model._meta
    context = {**model_admin.admin_site.each_context(request), "opts": opts, "columns": columns,
               "title": f"Compare {opts.verbose_name_plural}", "curves": {"runs": runs}, "tables": tables}
    return TemplateResponse(request, "admin/rnnservice/compare.html", context)
