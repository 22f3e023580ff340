"""The label check every reader shares: a label is not empty and, at evaluation time, one the model knows."""
from __future__ import annotations

from collections.abc import Collection

from rnnservice.ml.errors import FormatError


def check_label(path: str, line: int, value: str, known: Collection[str] | None) -> str:
    """`value`, or FormatError(path, line, ...) when it is empty or not among `known` (None: any label goes)."""
    if not value:
        raise FormatError(path, line, "the label is empty")
    if known is not None and value not in known:
        shown = ", ".join(sorted(known)[:20]) + (", ..." if len(known) > 20 else "")
        raise FormatError(path, line, f"label {value!r} was never seen in training; the model knows "
                                      f"{shown or 'no labels'}")
    return value
