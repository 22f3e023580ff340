"""Answers kept for a second in each process: the lookups behind every prediction (a token's user, the version a
name and alias choose) cost a database round trip each, and they change seldom. An entry is used for at most
SERVING_LOOKUP_SECONDS (1) after it was read, so a revoked token and a promotion take effect in every process
within that time; 0 turns the cache off. Only answers that found something are kept: a new token or a new model
works at once."""
from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any

from django.conf import settings

MAX_ENTRIES = 10_000                 # per cache and process: a bound on memory whatever keys clients send


class FreshCache:
    """A thread-safe map of recent answers, each used for SERVING_LOOKUP_SECONDS, at most MAX_ENTRIES."""

    def __init__(self) -> None:
        self._entries: OrderedDict[Hashable, tuple[float, Any]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Hashable, compute: Callable[[], Any]) -> Any:
        """compute()'s answer for `key`, from this cache while fresh; an empty answer (None, []) is not kept."""
        seconds = settings.SERVING_LOOKUP_SECONDS
        if seconds <= 0:
            return compute()
        now = time.monotonic()
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None and entry[0] > now:
                return entry[1]
        value = compute()
        if value:
            with self._lock:
                self._entries[key] = (now + seconds, value)
                self._entries.move_to_end(key)
                while len(self._entries) > MAX_ENTRIES:
                    self._entries.popitem(last=False)
        return value

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
