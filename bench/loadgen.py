"""A bounded HTTP load generator for the benchmarks: N concurrent clients on 127.0.0.1, for a fixed time.

    result = run_load("http://127.0.0.1:8000/api/models/pos/predict", bodies=[{...}], clients=32, seconds=20,
                      headers={"Authorization": "Token ..."})
    print(result.summary())

Each client is a coroutine on one aiohttp session that sends a request, waits for the answer, and sends the
next (a closed loop: the rate is what the server sustains). Bodies are taken in turn. The run stops by itself
after `seconds` (requests under way then are finished and counted). Only loopback addresses are accepted:
this is a benchmark tool, not a way to load someone else's server.
"""
from __future__ import annotations

import asyncio
import collections
import itertools
import json
import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import aiohttp

LOOPBACK = {"127.0.0.1", "localhost", "::1"}


@dataclass
class LoadResult:
    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)          # seconds, answered requests with a 2xx
    statuses: collections.Counter = field(default_factory=collections.Counter)  # status code or exception name
    first_error: str = ""

    @property
    def ok(self) -> int:
        return len(self.latencies)

    @property
    def errors(self) -> int:
        return sum(self.statuses.values()) - self.ok

    def percentile_ms(self, q: float) -> float:
        if not self.latencies:
            return float("nan")
        ordered = sorted(self.latencies)
        return 1000 * ordered[min(len(ordered) - 1, int(q / 100 * len(ordered)))]

    def summary(self) -> dict[str, Any]:
        return {"requests": self.ok + self.errors, "errors": self.errors,
                "requests_per_s": round(self.ok / self.seconds, 1) if self.seconds else 0.0,
                "p50_ms": round(self.percentile_ms(50), 2), "p99_ms": round(self.percentile_ms(99), 2),
                "mean_ms": round(1000 * statistics.fmean(self.latencies), 2) if self.latencies else float("nan"),
                "statuses": {str(k): v for k, v in sorted(self.statuses.items(), key=str)},
                **({"first_error": self.first_error} if self.first_error else {})}


def run_load(url: str, *, bodies: Sequence[Any], clients: int, seconds: float, headers: dict[str, str] | None = None,
             timeout: float = 30.0, warmup: float = 0.0, method: str = "POST") -> LoadResult:
    """POST JSON bodies to url from `clients` concurrent clients for `seconds` (after `warmup` seconds whose
    answers are not counted); method="GET" sends no body. Blocks until done."""
    if urlsplit(url).hostname not in LOOPBACK:
        raise ValueError(f"{url}: the load generator only sends to 127.0.0.1, localhost or ::1")
    if not bodies:
        raise ValueError("bodies: give at least one request body")
    encoded = [json.dumps(b).encode() if method == "POST" else None for b in bodies]
    return asyncio.run(_run(url, encoded, clients, seconds, headers or {}, timeout, warmup, method))


async def _run(url: str, bodies: list[bytes | None], clients: int, seconds: float, headers: dict[str, str],
               timeout: float, warmup: float, method: str) -> LoadResult:
    result = LoadResult()
    turn = itertools.count()
    connector = aiohttp.TCPConnector(limit=clients, force_close=False)
    client_timeout = aiohttp.ClientTimeout(total=timeout)
    headers = {"Content-Type": "application/json", **headers}
    async with aiohttp.ClientSession(connector=connector, timeout=client_timeout, headers=headers) as session:
        started = time.perf_counter()
        counting_from = started + warmup
        stop_at = counting_from + seconds

        async def client() -> None:
            while (now := time.perf_counter()) < stop_at:
                body = bodies[next(turn) % len(bodies)]
                outcome = await _send(session, method, url, body)
                if now < counting_from:
                    continue
                status, error = outcome
                result.statuses[status] += 1
                if isinstance(status, int) and 200 <= status < 300:
                    result.latencies.append(time.perf_counter() - now)
                    continue
                result.first_error = result.first_error or f"{status}: {error[:300]}"

        await asyncio.gather(*(client() for _ in range(clients)))
        result.seconds = time.perf_counter() - counting_from
    return result


async def _send(session: aiohttp.ClientSession, method: str, url: str, body: bytes | None) -> tuple[int | str, str]:
    try:
        async with session.request(method, url, data=body) as response:
            text = await response.text()
            return response.status, text
    except (TimeoutError, aiohttp.ClientError) as exc:
        return type(exc).__name__, str(exc)
