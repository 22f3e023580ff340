"""How the admin pages show values: numbers to 4 significant digits, short hashes with the full one on hover, and
the static files of the charts (Chart.js, vendored under static/vendor/chartjs, and our own scripts)."""
from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from django.utils.html import format_html, format_html_join
from django.utils.timezone import localtime

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


def short_time(value: Any) -> str:
    """A date and time as "2026-12-04 17:04" in the current time zone, the width of a list column."""
    return "-" if value is None else localtime(value).strftime("%Y-%m-%d %H:%M")


def short_hash(sha256: str, length: int = 12) -> str:
    """The first `length` hex digits of a hash, the whole hash on hover."""
    if not sha256:
        return "-"
    return format_html('<code title="{}">{}…</code>', sha256, sha256[:length])


def metrics_inline(metrics: dict[str, Any]) -> str:
    """{"accuracy": 0.91234, "macro_f1": 0.8} as "accuracy 0.9123 · macro_f1 0.8", each exact value on hover."""
    if not metrics:
        return "-"
    return format_html_join(" · ", "{} {}", ((name, number_cell(metrics[name])) for name in sorted(metrics)))


def metric_columns(rows: Iterable[dict[str, Any]], read: Callable[[Any], dict[str, Any]]) -> list[Callable]:
    """One list column per metric name that any of `rows` has, each showing read(obj)[name] to 4 digits: the
    names differ by task (accuracy, entity_f1, bleu, ...), so the columns come from the rows on the page."""
    names = sorted({name for row in rows for name in row})
    return [_metric_column(name, read) for name in names]


def _metric_column(name: str, read: Callable[[Any], dict[str, Any]]) -> Callable:
    def column(obj: Any) -> str:
        return number_cell(read(obj).get(name))
    column.short_description = name.replace("_", " ")      # the admin's column header
    column.__name__ = f"metric_{name}"
    return column


RUNTIME_NAMES = {"torch": "PyTorch", "onnx": "ONNX Runtime", "onnx_int8": "ONNX Runtime, int8"}


def runtime_summary(runtime: dict[str, Any] | None) -> str:
    """A version's "runtime" record (rnnservice/ml/runtime.py) as a table: what serves it, the ms of one input by
    runtime, why it did not export, and the int8 graph's dev metric before and after where it was quantised."""
    if not runtime:
        return "-"
    onnx = runtime.get("onnx") or {}
    rows = [("serves", RUNTIME_NAMES.get(runtime.get("runtime"), str(runtime.get("runtime"))))]
    if not onnx.get("exported", True) or "reason" in onnx:
        rows.append(("not exported", onnx.get("reason", "-")))
    int8 = onnx.get("int8") or {}
    one = {RUNTIME_NAMES[name]: ms for name, ms in (onnx.get("ms_batch_1") or {}).items() if name in RUNTIME_NAMES}
    if int8.get("made"):
        one[RUNTIME_NAMES["onnx_int8"]] = int8.get("ms_batch_1")
    if one:
        rows.append(("ms, one input", format_html_join(" · ", "{} {}", ((k, number_cell(v)) for k, v in one.items()))))
    if int8.get("made"):
        metric = int8.get("metric", "")
        before, after = (int8.get("dev_float") or {}).get(metric), (int8.get("dev_int8") or {}).get(metric)
        verdict = "within" if int8.get("within_tolerance") else "past"
        rows.append((f"int8 dev {metric}", format_html("{} → {} ({} the tolerance of {})", number_cell(before),
                                                      number_cell(after), verdict, number_cell(int8.get("tolerance")))))
    elif int8:
        rows.append(("int8", int8.get("reason", "not made")))
    body = format_html_join("", "<tr><th>{}</th><td>{}</td></tr>", rows)
    return format_html('<table class="rnn-table">{}</table>', body)


def members_summary(members: list[dict[str, Any]]) -> str:
    """An ensemble's members (a version's split.members) as a table: each one's seed, best epoch and dev metrics."""
    if not members:
        return "-"
    head = format_html("<tr><th>member</th><th>seed</th><th>best epoch</th><th>dev</th></tr>")
    body = format_html_join("", "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>", (
        (number, member.get("seed"), member.get("best_epoch"), metrics_inline(member.get("dev") or {}))
        for number, member in enumerate(members, 1)))
    return format_html('<table class="rnn-table">{}{}</table>', head, body)
