"""Tests for apps.serving.batching: concurrent callers share forward passes and each gets its own outputs back."""
from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from apps.serving.batching import Batcher
from apps.serving.cache import model_get
from apps.serving.services import predict
from rnnservice.ml.errors import MLError
from rnnservice.ml.predict import Predictor

SENTENCES = ["Peter Blackburn visited Paris", "EU rejects German call", "Li Wei saw Rome .", "MADRID",
             "Anna Schmidt left Berlin for Rome on Monday", "UN backs French plan", "Omar", "BRUSSELS 1996-08-22"]


@pytest.fixture(scope="module")
def tagger(tiny_model_dirs) -> Predictor:
    return Predictor.load(tiny_model_dirs["tagging"])


class GatedRun:
    """The real Predictor.run, held back on its first call until `release` is set: the requests that arrive
    meanwhile queue up, as they do behind a busy model, and must then share one batch."""

    def __init__(self, predictor: Predictor):
        self.predictor, self.release, self.calls, self.lengths = predictor, threading.Event(), [], []

    def __call__(self, prepared, options):
        self.calls.append(len(prepared))
        self.lengths.append(sorted(one.tokens for one in prepared))
        if len(self.calls) == 1:
            assert self.release.wait(30)
        return self.predictor.run(prepared, options)


def _concurrently(batcher: Batcher, predictor: Predictor, requests: list[list[str]], run: GatedRun):
    """Send the first request, wait until the model holds it, queue the rest, then let the model go."""
    options = predictor.options({})
    with ThreadPoolExecutor(len(requests)) as pool:
        first = pool.submit(batcher.predict, predictor.prepare(requests[0]), options)
        while not run.calls:
            threading.Event().wait(0.001)
        rest = [pool.submit(batcher.predict, predictor.prepare(r), options) for r in requests[1:]]
        while batcher._items_waiting() < sum(map(len, requests[1:])):
            threading.Event().wait(0.001)
        run.release.set()
        return [first.result(30)] + [f.result(30) for f in rest]


def test_concurrent_requests_share_one_forward_pass_and_each_gets_its_own_outputs(tagger):
    run = GatedRun(tagger)
    batcher = Batcher(run, max_items=64, max_wait=0.0)
    requests = [[s] for s in SENTENCES[:1]] + [SENTENCES[1:3], SENTENCES[3:4], SENTENCES[4:8]]
    answers = _concurrently(batcher, tagger, requests, run)
    assert answers == [tagger.predict(r) for r in requests]       # in order, and as if each had run alone
    assert run.calls == [1, 7]                                     # the three queued requests: one batch of 7
    assert (batcher.batches, batcher.requests) == (2, 4)
    batcher.close()


def test_a_batch_holds_at_most_max_items_and_the_rest_wait_for_the_next(tagger):
    run = GatedRun(tagger)
    batcher = Batcher(run, max_items=3, max_wait=0.0)
    requests = [[s] for s in SENTENCES[:6]]
    answers = _concurrently(batcher, tagger, requests, run)
    assert answers == [tagger.predict(r) for r in requests]
    assert run.calls == [1, 3, 2]
    batcher.close()


LONG, SHORT = "Anna Schmidt left Berlin for Rome on Monday", "Omar"          # 8 tokens, 1


def test_requests_of_similar_lengths_share_a_batch(tagger):
    run = GatedRun(tagger)
    batcher = Batcher(run, max_items=2, max_wait=0.0, max_delay=3600.0, length=lambda prepared: prepared.steps)
    requests = [[SHORT], [LONG], [SHORT], [LONG], [SHORT]]
    answers = _concurrently(batcher, tagger, requests, run)
    assert answers == [tagger.predict(r) for r in requests]
    # After the first: the oldest waiting (LONG) with the other LONG, then the two SHORTs.
    assert run.lengths == [[1], [8, 8], [1, 1]]
    batcher.close()


def test_a_batch_holds_at_most_max_tokens_padded_tokens(tagger):
    run = GatedRun(tagger)
    batcher = Batcher(run, max_items=64, max_wait=0.0, max_tokens=10, max_delay=3600.0,
                      length=lambda prepared: prepared.steps)
    requests = [[SHORT], [LONG], [SHORT], [LONG], [SHORT]]
    answers = _concurrently(batcher, tagger, requests, run)
    assert answers == [tagger.predict(r) for r in requests]
    # 8 x 2 = 16 padded tokens would pass 10: each LONG goes with what still fits (8 x 1 + ...: only itself).
    assert run.lengths == [[1], [8], [1, 1], [8]]
    batcher.close()


def test_a_request_waiting_max_delay_is_not_held_back_for_a_better_fit(tagger):
    run = GatedRun(tagger)
    batcher = Batcher(run, max_items=2, max_wait=0.0, max_delay=0.0, length=lambda prepared: prepared.steps)
    requests = [[SHORT], [LONG], [SHORT], [LONG], [SHORT]]
    answers = _concurrently(batcher, tagger, requests, run)
    assert answers == [tagger.predict(r) for r in requests]
    assert run.lengths == [[1], [1, 8], [1, 8]]           # every request overdue: arrival order, as they came
    batcher.close()


def test_requests_with_other_decoding_options_never_share_a_batch(tiny_model_dirs):
    translator = Predictor.load(tiny_model_dirs["translation"])
    run = GatedRun(translator)
    batcher = Batcher(run, max_items=64, max_wait=0.0)
    sources = ["Ein Mann schläft.", "Eine Frau liest ein Buch.", "Zwei Hunde rennen im Schnee."]
    greedy_options = translator.options({"beam_size": 1})
    with ThreadPoolExecutor(4) as pool:
        first = pool.submit(batcher.predict, translator.prepare(sources[:1]), greedy_options)
        while not run.calls:
            threading.Event().wait(0.001)
        beam = pool.submit(batcher.predict, translator.prepare(sources[1:2]), translator.options({"beam_size": 3}))
        greedy = pool.submit(batcher.predict, translator.prepare(sources[2:]), greedy_options)
        while batcher._items_waiting() < 2:
            threading.Event().wait(0.001)
        run.release.set()
        assert beam.result(30) == translator.predict(sources[1:2], beam_size=3)
        assert greedy.result(30) == translator.predict(sources[2:], beam_size=1)
        assert first.result(30) == translator.predict(sources[:1], beam_size=1)
    assert run.calls == [1, 1, 1]
    batcher.close()


def test_a_failed_batch_fails_its_callers_and_the_batcher_serves_on(tagger):
    calls = []

    def run(prepared, options):
        calls.append(len(prepared))
        if len(calls) == 1:
            raise MLError("the model fell over")
        return tagger.run(prepared, options)

    batcher = Batcher(run, max_items=64, max_wait=0.0)
    with pytest.raises(MLError, match="the model fell over"):
        batcher.predict(tagger.prepare(SENTENCES[:2]))
    assert batcher.predict(tagger.prepare(SENTENCES[:2])) == tagger.predict(SENTENCES[:2])
    batcher.close()


def test_under_concurrent_load_a_batch_waits_up_to_max_wait_to_fill(tagger):
    run = GatedRun(tagger)
    batcher = Batcher(run, max_items=4, max_wait=30.0)
    # Two requests share the first batch after the gated one, so the batcher now waits for batches to fill:
    # four single sentences make the next batch, however long they take to come.
    _concurrently(batcher, tagger, [[SENTENCES[0]], [SENTENCES[1]], [SENTENCES[2]]], run)
    with ThreadPoolExecutor(4) as pool:
        futures = []
        for sentence in SENTENCES[3:7]:
            futures.append(pool.submit(batcher.predict, tagger.prepare([sentence])))
        assert [f.result(30) for f in futures] == [tagger.predict([s]) for s in SENTENCES[3:7]]
    assert run.calls == [1, 2, 4]
    batcher.close()


def test_a_lone_client_never_waits(tagger):
    run = GatedRun(tagger)
    run.release.set()
    batcher = Batcher(run, max_items=64, max_wait=3600.0)            # a wait would hang the test
    for sentence in SENTENCES[:3]:
        assert batcher.predict(tagger.prepare([sentence])) == tagger.predict([sentence])
    assert run.calls == [1, 1, 1]
    batcher.close()


def test_a_request_of_max_items_or_more_is_a_batch_of_its_own_on_the_batching_thread(tagger):
    threads = []

    def run(prepared, options):
        threads.append((len(prepared), threading.current_thread().name))
        return tagger.run(prepared, options)

    batcher = Batcher(run, max_items=4, max_wait=0.0, name="pos")
    assert batcher.predict(tagger.prepare(SENTENCES[:5])) == tagger.predict(SENTENCES[:5])
    assert threads == [(5, "batcher pos")]                  # torch is only ever called from the batching thread
    batcher.close()


def test_a_closed_batcher_stops_its_thread_and_answers_a_late_caller_on_the_callers_thread(tagger):
    threads = []

    def run(prepared, options):
        threads.append(threading.current_thread().name)
        return tagger.run(prepared, options)

    batcher = Batcher(run, max_items=64, max_wait=0.0, name="pos")
    batcher.predict(tagger.prepare(SENTENCES[:1]))
    batcher.close()
    batcher._thread.join(10)
    assert not batcher._thread.is_alive()
    # A request thread that got the model from the cache just before the cache dropped it.
    assert batcher.predict(tagger.prepare(SENTENCES[:2])) == tagger.predict(SENTENCES[:2])
    assert threads == ["batcher pos", threading.current_thread().name]


def test_the_cache_gives_each_loaded_model_a_batcher_unless_batching_is_off(alice, make_version, settings,
                                                                           empty_model_cache):
    settings.SERVING_BATCH_MAX_ITEMS, settings.SERVING_BATCH_WAIT_MS = 16, 7
    batched = make_version(alice, "batched")
    loaded = model_get(version=batched)
    assert (loaded.batcher.max_items, loaded.batcher.max_wait) == (16, 0.007)
    assert predict(chosen=batched, inputs=["great fun ."])["outputs"] == loaded.predictor.predict(["great fun ."])
    assert loaded.batcher.batches == 1
    settings.SERVING_BATCHING = False
    assert model_get(version=make_version(alice, "unbatched")).batcher is None
