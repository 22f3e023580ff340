"""How the admin pages show values: numbers to 4 significant digits, short hashes with the full one on hover, and
the static files of the charts (Chart.js, vendored under static/vendor/chartjs, and our own scripts)."""
from __future__ import annotations

from typing import Any

from django.utils.html import format_html

CHART_JS = ("vendor/chartjs/chart.umd.min.js", "rnnservice/charts.js")
CSS = {"all": ("rnnservice/admin.css",)}


def significant(value: Any, digits: int = 4) -> str:
    """A float to `digits` significant digits (0.001234, 12.35, 1.235e+05); anything else as it is."""
    if isinstance(value, float):
        return f"{value:.{digits}g}"
    return "-" if value is None else str(value)


def number_cell(value: Any) -> str:
    """A number to 4 significant digits, the exact value on hover."""
    if isinstance(value, float):
        return format_html('<span title="{}">{}</span>', repr(value), significant(value))
    return significant(value)


def short_hash(sha256: str, length: int = 12) -> str:
    """The first `length` hex digits of a hash, the whole hash on hover."""
    if not sha256:
        return "-"
    return format_html('<code title="{}">{}…</code>', sha256, sha256[:length])
