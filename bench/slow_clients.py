"""/healthz latency from a fresh client while slow clients hold connections to the production web server (issue 15).

    python -m bench.slow_clients [--slow 32] [--seconds 20]

Starts the real server alone (`python -m rnnservice.server`, granian, with the workers, threads and timeouts it
chooses on this box) through bench/server.py, on a free port, with a migrated SQLite database in a temporary
RNNSERVICE_HOME and no Celery worker. Then:
1. baseline: `--seconds` of GET /healthz, one request at a time, each on a fresh connection;
2. under attack: `--slow` slow clients of each kind hold connections, and the same `--seconds` of /healthz again.
   - slow headers: `GET /healthz` and then one more header line every 2 s, never the blank line that ends them
     (granian drops them after WEB_HEADER_TIMEOUT);
   - slow body: complete headers declaring `Content-Length: 100`, then one byte of the body every 2 s
     (rnnservice/rsgi.py answers 408 after WEB_BODY_TIMEOUT).
   A slow client the server drops connects again at once and starts over, so that `--slow` of each kind are
   always at it.
Prints one JSON line: p50, p99 and max of the /healthz latencies (connect to last byte) in ms, their count and
errors (not a 200, or no answer within 10 s), in each phase; how many slow connections the server dropped, of each
kind, with its answer and how long it had held them; the server's settings and the load average. Progress goes to
stderr. Stops every process it started.
"""
from __future__ import annotations

import argparse
import http.client
import json
import os
import select
import socket
import statistics
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from bench.server import ServiceUnderTest
from rnnservice.server import server_settings

HOST = "127.0.0.1"
TRICKLE_SECONDS = 2.0
REQUEST_TIMEOUT = 10.0
PAUSE_SECONDS = 0.05             # between two /healthz requests: a steady probe, not a load
DECLARED_BODY_BYTES = 100


@dataclass(frozen=True)
class SlowKind:
    name: str
    opening: bytes               # sent on connecting
    trickle: bytes               # sent every TRICKLE_SECONDS after that


KINDS = (
    SlowKind("slow_headers", f"GET /healthz HTTP/1.1\r\nHost: {HOST}\r\n".encode(), b"X-Trickle: 1\r\n"),
    SlowKind("slow_body", (f"POST /api/auth/token/ HTTP/1.1\r\nHost: {HOST}\r\nContent-Type: application/json\r\n"
                           f"Content-Length: {DECLARED_BODY_BYTES}\r\n\r\n").encode(), b" "),
)


@dataclass(frozen=True)
class Drop:
    kind: str
    held_seconds: float          # from connecting until the server closed the connection
    status: int | None           # the server's answer; None: closed without one


class SlowClients:
    """`count` clients of each kind, each a thread that trickles on its connection and connects again when the
    server drops it, until stop()."""

    def __init__(self, port: int, count: int):
        self.port, self.count = port, count
        self.drops: list[Drop] = []
        self.connect_errors = 0
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._threads = [threading.Thread(target=self._run, args=(kind, index / count * TRICKLE_SECONDS), daemon=True)
                         for kind in KINDS for index in range(count)]

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join()

    def _run(self, kind: SlowKind, offset: float) -> None:
        self._stop.wait(offset)                          # spread the trickles over the interval
        while not self._stop.is_set():
            started = time.monotonic()
            try:
                sock = socket.create_connection((HOST, self.port), timeout=REQUEST_TIMEOUT)
            except OSError:
                with self._lock:
                    self.connect_errors += 1
                self._stop.wait(TRICKLE_SECONDS)
                continue
            with sock:
                status = self._hold(sock, kind)
            if status is not False:
                with self._lock:
                    self.drops.append(Drop(kind.name, time.monotonic() - started, status))

    def _hold(self, sock: socket.socket, kind: SlowKind) -> int | None | bool:
        """Trickle until the server closes the connection: its answer's status (None: no answer), or False when
        stopped first."""
        try:
            sock.sendall(kind.opening)
            while not self._stop.is_set():
                readable, _, _ = select.select([sock], [], [], TRICKLE_SECONDS)
                if readable:
                    return _status(_read_to_close(sock))
                sock.sendall(kind.trickle)
        except OSError:                                  # reset, or a broken pipe: dropped without an answer
            return None
        return False


def _read_to_close(sock: socket.socket) -> bytes:
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    return data


def _status(answer: bytes) -> int | None:
    parts = answer.split(b" ", 2)
    return int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else None


def probe_healthz(port: int, seconds: float) -> dict[str, Any]:
    """GET /healthz on a fresh connection, one at a time, for `seconds`: latency percentiles in ms and errors."""
    latencies, errors, first_error = [], 0, ""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        started = time.perf_counter()
        connection = http.client.HTTPConnection(HOST, port, timeout=REQUEST_TIMEOUT)
        try:
            connection.request("GET", "/healthz")
            response = connection.getresponse()
            response.read()
            if response.status != 200:
                raise OSError(f"status {response.status}")
            latencies.append(time.perf_counter() - started)
        except OSError as exc:
            errors += 1
            first_error = first_error or f"{type(exc).__name__}: {exc}"
        finally:
            connection.close()
        time.sleep(PAUSE_SECONDS)
    return {"requests": len(latencies) + errors, "errors": errors, **_percentiles_ms(latencies),
            **({"first_error": first_error} if first_error else {})}


def _percentiles_ms(latencies: list[float]) -> dict[str, float | None]:
    if len(latencies) < 2:
        return {"p50_ms": None, "p99_ms": None, "max_ms": None}
    cuts = statistics.quantiles(latencies, n=100, method="inclusive")
    return {"p50_ms": round(1000 * cuts[49], 2), "p99_ms": round(1000 * cuts[98], 2),
            "max_ms": round(1000 * max(latencies), 2)}


def drops_summary(drops: list[Drop]) -> dict[str, Any]:
    """Per kind: how many connections the server dropped, its answers, and how long it had held them."""
    summary = {}
    for kind in KINDS:
        held = sorted(drop.held_seconds for drop in drops if drop.kind == kind.name)
        statuses = Counter(str(drop.status) if drop.status else "none" for drop in drops if drop.kind == kind.name)
        summary[kind.name] = {"dropped": len(held), "answers": dict(statuses),
                              "held_s_min": round(held[0], 2) if held else None,
                              "held_s_median": round(statistics.median(held), 2) if held else None,
                              "held_s_max": round(held[-1], 2) if held else None}
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--slow", type=int, default=32, help="slow clients of each kind (default 32)")
    parser.add_argument("--seconds", type=float, default=20.0, help="length of each phase (default 20)")
    args = parser.parse_args()

    def log(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    config = server_settings()                      # what `python -m rnnservice.server` chooses on this box
    with ServiceUnderTest(web_workers=config.workers, web_threads=config.threads, worker_queues=(), log=log) as svc:
        port = int(svc.url.rsplit(":", 1)[1])
        log(f"baseline: /healthz for {args.seconds:g} s")
        baseline = probe_healthz(port, args.seconds)
        log(f"{args.slow} slow clients of each kind, then /healthz for {args.seconds:g} s")
        slow = SlowClients(port, args.slow)
        slow.start()
        time.sleep(TRICKLE_SECONDS)                 # every slow client connected and trickling
        under_slow = probe_healthz(port, args.seconds)
        slow.stop()
        load = os.getloadavg()
    print(json.dumps({
        "date": datetime.now(UTC).isoformat(timespec="seconds"), "slow_clients_per_kind": args.slow,
        "seconds": args.seconds,
        "server": {"workers": config.workers, "threads": config.threads,
                   "header_timeout_s": config.header_timeout, "body_timeout_s": config.body_timeout},
        "healthz_baseline": baseline, "healthz_under_slow_clients": under_slow,
        "slow_connections_dropped": drops_summary(slow.drops), "slow_connect_errors": slow.connect_errors,
        "load_average": [round(value, 2) for value in load]}))


if __name__ == "__main__":
    main()
