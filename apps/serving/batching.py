"""Dynamic batching: concurrent prediction requests for one loaded model share forward passes.

Each request thread hands its prepared inputs (`Predictor.prepare`: parsed and encoded, in the request's own
thread) and checked options to the model's Batcher and waits. One batching thread per model
takes the oldest waiting request and, with it, the waiting requests of lengths closest to its own (so that a
bidirectional model seldom sees padding), up to `max_items` examples and `max_tokens` padded tokens (the longest
example's length times the examples), and runs them as one call of `Predictor.run`, which sorts the
inputs by length into batches and returns the outputs in order; each request gets its own slice back. A request
that has waited `max_delay` seconds is not held back for a better fit: it goes in the next batch that has room,
oldest first.

When to run: a batch starts as soon as the model is free, unless the last batch was shared by several requests
(the model is under concurrent load). Then it waits up to `max_wait` seconds after its first request arrived
for the batch to fill. A lone client so never waits, and concurrent clients get full batches. Requests with
different decoding options (translation) never share a batch. A request of `max_items` examples or more is a
batch of its own.

Every forward pass of the model runs on the batching thread, never on a request thread: torch's CPU thread
pool (OpenMP) belongs to the thread that calls it, so each request thread that called torch would keep a pool
of its own, and dozens of pools fight over the cores.
"""
from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

logger = logging.getLogger(__name__)
Run = Callable[[Sequence[Any], Any], list[dict[str, Any]]]     # run(inputs, options) -> one output per input
Length = Callable[[Any], int]                    # an input's length, in tokens or frames


@dataclass
class _Request:
    examples: Sequence[Any]
    options: Any
    key: str                                     # requests share a batch only with equal options
    length: int = 1                              # its longest example's
    arrived: float = field(default_factory=time.monotonic)
    done: threading.Event = field(default_factory=threading.Event)
    outputs: list[dict[str, Any]] | None = None
    error: BaseException | None = None


class Batcher:
    """Gathers the predictions of concurrent callers for one model into shared calls of `run`."""

    def __init__(self, run: Run, *, max_items: int, max_wait: float, name: str = "model",
                 max_tokens: int | None = None, max_delay: float = 0.05, length: Length | None = None):
        self._run, self.max_items, self.max_wait, self.name = run, max_items, max_wait, name
        self.max_tokens, self.max_delay, self._length = max_tokens, max_delay, length or (lambda example: 1)
        self._waiting: deque[_Request] = deque()
        self._changed = threading.Condition()
        self._shared_last = False                # did the last batch hold more than one request?
        self._closed = False
        self._thread: threading.Thread | None = None
        self.batches = 0                         # counters, for tests and metrics
        self.requests = 0

    def predict(self, examples: Sequence[Any], options: Any = None) -> list[dict[str, Any]]:
        """Outputs for `examples`, in order, computed in a batch with other callers' examples; `options` as `run`
        takes them (checked options: a dataclass, whose repr tells equal ones apart, or None)."""
        request = _Request(examples, options, repr(options),
                           max((self._length(example) for example in examples), default=1))
        with self._changed:
            closed = self._closed
            if not closed:
                self._start()
                self._waiting.append(request)
                self._changed.notify()
        if closed:
            # A caller that got this model from the cache just before the cache dropped it: answered on its own
            # thread (rare), not refused.
            return self._run(examples, options)
        request.done.wait()
        if request.error is not None:
            raise request.error
        return request.outputs

    def close(self) -> None:
        """Stop the batching thread once the requests already waiting are answered; later callers run alone."""
        with self._changed:
            self._closed = True
            self._changed.notify()

    def _start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._loop, name=f"batcher {self.name}", daemon=True)
            self._thread.start()

    def _loop(self) -> None:
        while (batch := self._next_batch()) is not None:
            self._answer(batch)

    def _next_batch(self) -> list[_Request] | None:
        with self._changed:
            while not self._waiting:
                if self._closed:
                    return None
                self._changed.wait()
            if self._shared_last:
                deadline = self._waiting[0].arrived + self.max_wait
                while self._items_waiting() < self.max_items and (left := deadline - time.monotonic()) > 0:
                    self._changed.wait(left)
            return self._take()

    def _items_waiting(self) -> int:
        return sum(len(r.examples) for r in self._waiting)

    def _take(self) -> list[_Request]:
        """The oldest request, and with it, of the requests with its options: first those overdue (waiting
        max_delay or more), oldest first; then the others, closest in length to it first; each while the batch
        stays within max_items examples and max_tokens padded tokens."""
        first = self._waiting.popleft()
        overdue = time.monotonic() - self.max_delay
        same = [r for r in self._waiting if r.key == first.key]
        same.sort(key=lambda r: (r.arrived > overdue, abs(r.length - first.length) if r.arrived > overdue
                                 else r.arrived))
        batch, items, longest = [first], len(first.examples), first.length
        for request in same:
            count, length = items + len(request.examples), max(longest, request.length)
            if count <= self.max_items and (self.max_tokens is None or count * length <= self.max_tokens):
                batch.append(request)
                items, longest = count, length
        taken = {id(request) for request in batch}
        self._waiting = deque(r for r in self._waiting if id(r) not in taken)
        self._shared_last = len(batch) > 1
        return batch

    def _answer(self, batch: list[_Request]) -> None:
        examples = [example for request in batch for example in request.examples]
        try:
            outputs = self._run(examples, batch[0].options)
        except BaseException as exc:             # every caller gets the error; the thread serves on
            logger.exception("batch of %d requests for %s failed", len(batch), self.name)
            for request in batch:
                request.error = exc
                request.done.set()
            return
        self.batches += 1
        self.requests += len(batch)
        start = 0
        for request in batch:
            request.outputs = outputs[start:start + len(request.examples)]
            start += len(request.examples)
            request.done.set()
