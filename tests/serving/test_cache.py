"""Tests for apps.serving.cache: one Predictor per (version, sha256) per process, bounded, checked against disk."""
from __future__ import annotations

import os
import threading
from concurrent.futures import Future, ThreadPoolExecutor, wait

import pytest

from apps.serving import cache
from apps.serving.cache import model_get
from rnnservice.errors import ArtifactUnavailable


def test_it_returns_the_same_predictor_for_the_same_version(alice, make_version, empty_model_cache):
    version = make_version(alice)
    first = model_get(version=version)
    assert model_get(version=version) is first
    assert empty_model_cache.keys() == [(version.pk, version.sha256)]
    assert first.predictor.predict(["great fun ."])[0]["label"] in ("0", "1")


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
    assert loaded_b.predictor.predict(["great fun ."])                              # a model over the bound alone stays
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


def test_a_hit_never_waits_for_the_cache_lock(alice, make_version, empty_model_cache):
    version = make_version(alice)
    loaded = model_get(version=version)
    with ThreadPoolExecutor(1) as pool:
        with empty_model_cache._lock:                            # as while another model is being inserted
            hit = pool.submit(model_get, version=version)
            answered = wait([hit], timeout=10).done
        assert answered and hit.result() is loaded


def test_concurrent_hits_all_get_the_loaded_model_and_keep_it_most_recently_used(alice, make_version, settings,
                                                                                 empty_model_cache):
    settings.SERVING_CACHE_SIZE = 2
    a, b, c = make_version(alice, "a"), make_version(alice, "b"), make_version(alice, "c")
    loaded_a, _ = model_get(version=a), model_get(version=b)
    with ThreadPoolExecutor(8) as pool:
        hits = list(pool.map(lambda _: model_get(version=a), range(200)))
    assert all(hit is loaded_a for hit in hits)
    model_get(version=c)
    assert [key[0] for key in empty_model_cache.keys()] == [a.pk, c.pk]      # b, the least recently used, went


def _gated_loads(monkeypatch, fail: bool = False) -> tuple[threading.Event, list[int]]:
    """Hold every load of a model until the returned event is set; count the loads."""
    gate, loads, real = threading.Event(), [], cache._loaded

    def gated(version):
        loads.append(version.pk)
        assert gate.wait(30)
        if fail:
            raise OSError("disk gone")
        return real(version)
    monkeypatch.setattr(cache, "_loaded", gated)
    return gate, loads


def _misses_at_once(version, gate: threading.Event, monkeypatch, requests: int = 6) -> list:
    """`requests` threads miss the same version at once; once all but the loading one wait for its load, the load
    may finish. Returns each thread's model or exception."""
    waiting = []

    class CountedFuture(Future):
        def result(self, timeout=None):
            waiting.append(1)
            return super().result(timeout)
    monkeypatch.setattr(cache, "Future", CountedFuture)
    with ThreadPoolExecutor(requests) as pool:
        futures = [pool.submit(model_get, version=version) for _ in range(requests)]
        while len(waiting) < requests - 1:
            threading.Event().wait(0.001)
        gate.set()
        return [f.exception(30) or f.result() for f in futures]


@pytest.mark.django_db(transaction=True)
def test_requests_that_miss_the_same_version_at_once_share_one_load(alice, make_version, empty_model_cache,
                                                                   monkeypatch):
    version = make_version(alice)
    gate, loads = _gated_loads(monkeypatch)
    results = _misses_at_once(version, gate, monkeypatch)
    assert loads == [version.pk]                                   # one load, not one per waiting request
    assert all(result is results[0] for result in results)
    assert not results[0].batcher._closed                          # nobody got a model dropped meanwhile
    assert results[0].predictor.predict(["great fun ."])


@pytest.mark.django_db(transaction=True)
def test_a_failed_load_fails_every_waiting_request_and_the_next_request_loads_again(alice, make_version,
                                                                                   empty_model_cache, monkeypatch):
    version = make_version(alice)
    gate, loads = _gated_loads(monkeypatch, fail=True)
    results = _misses_at_once(version, gate, monkeypatch, requests=4)
    assert loads == [version.pk] and all(isinstance(r, OSError) for r in results)
    monkeypatch.undo()
    assert model_get(version=version).predictor.predict(["great fun ."])     # nothing left pending
