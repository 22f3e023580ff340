"""Tests for apps.serving.cache: one Predictor per (version, sha256) per process, bounded, checked against disk."""
from __future__ import annotations

import os

import pytest

from apps.serving.cache import model_get
from rnnservice.errors import ArtifactUnavailable


def test_it_returns_the_same_predictor_for_the_same_version(alice, make_version, empty_model_cache):
    version = make_version(alice)
    first = model_get(version=version)
    assert model_get(version=version) is first
    assert empty_model_cache.keys() == [(version.pk, version.sha256)]
    assert first.predict(["great fun ."])[0]["label"] in ("0", "1")


def test_it_keeps_at_most_serving_cache_size_models_dropping_the_least_recently_used(
        alice, make_version, settings, empty_model_cache):
    settings.SERVING_CACHE_SIZE = 2
    a, b, c = make_version(alice, "a"), make_version(alice, "b"), make_version(alice, "c")
    loaded_a = model_get(version=a)
    loaded_b = model_get(version=b)
    assert model_get(version=a) is loaded_a                  # a is now the most recently used
    model_get(version=c)
    assert empty_model_cache.keys() == [(a.pk, a.sha256), (c.pk, c.sha256)]      # b was dropped
    assert model_get(version=b) is not loaded_b              # loaded again
    assert [key[0] for key in empty_model_cache.keys()] == [c.pk, b.pk]


def test_it_keeps_the_weights_within_serving_cache_bytes_but_always_the_model_just_loaded(
        alice, make_version, settings, empty_model_cache):
    a, b = make_version(alice, "a"), make_version(alice, "b")
    one_model = model_get(version=a).nbytes
    settings.SERVING_CACHE_BYTES = one_model + one_model // 2             # room for one model, not two
    loaded_b = model_get(version=b)
    assert empty_model_cache.keys() == [(b.pk, b.sha256)] and empty_model_cache.nbytes() == one_model
    assert loaded_b.predict(["great fun ."])                              # a model over the bound alone stays
    settings.SERVING_CACHE_BYTES = 1
    assert model_get(version=a) and empty_model_cache.keys() == [(a.pk, a.sha256)]
    assert loaded_b.batcher._closed                                       # a dropped model's batcher stops


def test_it_keys_by_sha256_and_never_serves_a_sha256_the_folder_does_not_have(alice, make_version,
                                                                              empty_model_cache):
    version = make_version(alice)
    model_get(version=version)
    recorded = version.sha256
    version.sha256 = "0" * 64                      # a row that names another artifact than the one on disk
    with pytest.raises(ArtifactUnavailable, match="manifest.json is not the one recorded at registration"):
        model_get(version=version)
    assert empty_model_cache.keys() == [(version.pk, recorded)]


def test_it_reloads_after_a_touch_and_serves_when_the_bytes_are_the_same(alice, make_version, empty_model_cache):
    version = make_version(alice)
    first = model_get(version=version)
    weights = version.folder / "weights.safetensors"
    stat = weights.stat()
    os.utime(weights, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10_000_000_000))
    again = model_get(version=version)
    assert again is not first                      # looked at again, and verified again
    assert model_get(version=version) is again
