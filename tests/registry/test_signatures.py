"""Tests for apps/registry/signatures.py: what a version's callers depend on, and the differences between two."""
from __future__ import annotations

from apps.registry.signatures import signature_differences, signature_of


def test_it_reads_the_task_input_and_labels_from_config_json():
    info = {"config": {"data": {"input": "values"}}, "labels": ["b", "a"]}
    assert signature_of(task="classification", info=info) == {"task": "classification", "input": "values",
                                                               "labels": ["b", "a"]}
    assert signature_of(task="translation", info={"config": {"data": {}}, "labels": []}) == {
        "task": "translation", "input": "tokens", "labels": None}


def test_it_names_labels_added_and_removed_and_another_input_kind():
    old = {"task": "classification", "input": "tokens", "labels": ["neg", "pos"]}
    assert signature_differences(old, {**old, "labels": ["pos", "neg"]}) == []          # order does not count
    assert signature_differences(old, {**old, "input": "values", "labels": ["neg", "neutral"]}) == [
        "the input kind changes from tokens to values", "labels added: neutral", "labels removed: pos"]


def test_it_counts_the_labels_past_ten():
    old = {"task": "tagging", "input": "tokens", "labels": []}
    new = {**old, "labels": [f"T{n:02}" for n in range(13)]}
    assert signature_differences(old, new) == ["labels added: T00, T01, T02, T03, T04, T05, T06, T07, T08, T09 "
                                               "and 3 more"]
