"""A version's signature: what its callers depend on (its task, the kind of input it reads, the labels it can
answer), and the differences between two, so that a version that changes its model's contract is never promoted
in silence."""
from __future__ import annotations

from typing import Any

MAX_LISTED = 10              # labels named in a difference; more are counted


def signature_of(*, task: str, info: dict[str, Any]) -> dict[str, Any]:
    """{"task", "input", "labels"} from a version's config.json (`info`): labels is None for a task whose outputs
    are open (translation), else the output vocabulary (a classifier's labels, a tagger's tags)."""
    data = (info.get("config") or {}).get("data") or {}
    labels = info.get("labels") or None
    return {"task": task, "input": data.get("input") or "tokens", "labels": list(labels) if labels else None}


def signature_differences(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """What changes for a caller of a version with signature `old` when it is given one with `new`: one sentence
    a difference, empty when they are the same contract. Label order does not count: answers name labels."""
    differences = []
    for key, what in (("task", "task"), ("input", "input kind")):
        if old.get(key) != new.get(key):
            differences.append(f"the {what} changes from {old.get(key)} to {new.get(key)}")
    before, after = set(old.get("labels") or ()), set(new.get("labels") or ())
    if added := sorted(after - before):
        differences.append(f"labels added: {_listed(added)}")
    if removed := sorted(before - after):
        differences.append(f"labels removed: {_listed(removed)}")
    return differences


def _listed(labels: list[str]) -> str:
    shown = ", ".join(labels[:MAX_LISTED])
    return shown if len(labels) <= MAX_LISTED else f"{shown} and {len(labels) - MAX_LISTED} more"
