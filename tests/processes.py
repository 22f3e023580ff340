"""Real processes for the fault tests (tests/faults): Celery workers, celery beat, granian, redis-server, and a TCP
proxy that can cut the processes off from the database. Everything started is stopped by the fixture that made
it, killed if need be, whether the test passed or not."""
from __future__ import annotations

import json
import os
import runpy
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from email.message import Message
from pathlib import Path
from typing import Any, TypeVar

import pytest
from django.test.client import BOUNDARY, MULTIPART_CONTENT, encode_multipart

from apps.local.processes import start_process, stop_processes

ROOT = Path(__file__).resolve().parents[1]
DEADLINE = 60            # seconds for each wait: a process starts in a few, but this machine may be busy
T = TypeVar("T")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Processes:
    """Subprocesses, each with its output in `<folder>/<name>.log`, all in the environment `env` plus their own.
    stop() ends them all: SIGTERM (Celery's warm shutdown), then SIGKILL for any still there after 10 s."""

    def __init__(self, folder: Path, env: dict[str, str]):
        self.folder, self.env = folder, env
        self.started: dict[str, subprocess.Popen] = {}
        self.stopped: set[str] = set()            # ended on purpose: not a failure for wait_until

    def start(self, name: str, argv: list[str], **environment: str) -> subprocess.Popen:
        with (self.folder / f"{name}.log").open("ab") as out:
            # No stop-with-parent hook: a test process has threads of its own (a live server, a proxy) by now.
            process = start_process(argv, cwd=ROOT, env={**self.env, **environment}, stdout=out,
                                    orphaned_stop=False)
        self.started[name] = process
        self.stopped.discard(name)
        return process

    def worker(self, name: str, queues: str = "training", *options: str, **environment: str) -> subprocess.Popen:
        """`celery worker` as production runs it on the training queue: one job at a time (solo pool)."""
        return self.start(name, [sys.executable, "-m", "celery", "-A", "rnnservice.celery", "worker", "-Q", queues,
                                 "-n", f"{name}@%h", "--pool", "solo", "-c", "1", "--without-heartbeat",
                                 "--without-gossip", "--without-mingle", "--loglevel", "INFO", *options],
                          **environment)

    def web(self, port: int, **environment: str) -> subprocess.Popen:
        """The production web server (rnnservice/server.py): one worker process, a few threads."""
        return self.start("web", [sys.executable, "-m", "rnnservice.server"],
                          WEB_HOST="127.0.0.1", WEB_PORT=str(port), WEB_WORKERS="1", WEB_THREADS="4",
                          TORCH_THREADS="1", **environment)

    def stop(self, name: str, sig: int = signal.SIGTERM, timeout: float = 10) -> None:
        self.stopped.add(name)
        stop_processes([self.started[name]], grace=timeout, signal_number=sig)

    def stop_all(self) -> None:
        self.stopped.update(name for name, process in self.started.items() if process.poll() is None)
        stop_processes(list(self.started.values()), grace=10)

    def exited(self) -> list[str]:
        """The processes that ended without being stopped: a crash, which no wait should outlast."""
        return [f"{name} (exit {process.poll()})" for name, process in self.started.items()
                if process.poll() is not None and name not in self.stopped]

    def log(self, name: str) -> str:
        path = self.folder / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def logs(self) -> str:
        return "\n".join(f"--- {name}.log\n{self.log(name)[-6000:]}" for name in self.started)

    def wait_ready(self, *names: str) -> None:
        """Until each named Celery worker has said it is ready."""
        for name in names:
            wait_until(lambda name=name: f"{name}@" in self.log(name) and " ready." in self.log(name),
                       f"worker {name} to start", self)


def wait_until(condition: Callable[[], T], what: str, processes: Processes | None = None,
               deadline: float = DEADLINE, interval: float = 0.1) -> T:
    """The first true value of condition(), polled; fails the test, with every log, past the deadline or when a
    process ended by itself."""
    end = time.monotonic() + deadline
    while True:
        value = condition()
        if value:
            return value
        crashed = processes.exited() if processes else []
        if crashed or time.monotonic() > end:
            why = f"exited: {', '.join(crashed)}" if crashed else f"not within {deadline} s"
            pytest.fail(f"waiting for {what}: {why}\n{processes.logs() if processes else ''}")
        time.sleep(interval)


class Http:
    """A client of a real web server, with a user's token: get/post -> (status, JSON or text, headers). The headers
    are read by name in any case, as HTTP means them (granian sends them lower-case)."""

    def __init__(self, base: str, token: str = ""):
        self.base, self.token = base, token

    def request(self, method: str, path: str, body: Any = None, *, files: dict[str, Path] | None = None,
                headers: dict[str, str] | None = None, timeout: float = 30) -> tuple[int, Any, Message]:
        headers = {**({"Authorization": f"Token {self.token}"} if self.token else {}), **(headers or {})}
        data = None
        if files is not None:            # multipart, as a browser or curl -F sends an upload
            fields = {**(body or {}), **{name: path.open("rb") for name, path in files.items()}}
            try:
                data = encode_multipart(BOUNDARY, fields)
            finally:
                for name in files:
                    fields[name].close()
            headers["Content-Type"] = MULTIPART_CONTENT
        elif body is not None:
            data, headers["Content-Type"] = json.dumps(body).encode(), "application/json"
        request = urllib.request.Request(self.base + path, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                status, raw, answer_headers = response.status, response.read(), response.headers
        except urllib.error.HTTPError as error:
            status, raw, answer_headers = error.code, error.read(), error.headers
        try:
            return status, json.loads(raw), answer_headers
        except ValueError:
            return status, raw.decode(errors="replace"), answer_headers

    def get(self, path: str, **kwargs: Any) -> tuple[int, Any, Message]:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, body: Any = None, **kwargs: Any) -> tuple[int, Any, Message]:
        return self.request("POST", path, body, **kwargs)

    def answers(self) -> bool:
        try:
            return self.get("/healthz", timeout=2)[0] == 200
        except OSError:
            return False


class RedisServer:
    """A redis-server of the test's own on a free port, run as production might: no persistence (--save "",
    --appendonly no), so that what it holds is really lost when it stops."""

    def __init__(self, processes: Processes):
        self.processes, self.port = processes, free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.processes.start("redis", ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1",
                                       "--save", "", "--appendonly", "no"])
        import redis
        client = redis.Redis(port=self.port, socket_connect_timeout=1)

        def answers() -> bool:
            try:
                return bool(client.ping())
            except redis.exceptions.ConnectionError:
                return False
        wait_until(answers, "redis-server to answer", self.processes)

    def stop(self) -> None:
        self.processes.stop("redis")


class TcpProxy:
    """127.0.0.1:<port> forwarded to 127.0.0.1:<target>, in threads. cut() resets every connection through it and
    refuses new ones (accepted, then reset at once) until restore(): to the processes behind it, the server is
    gone, as when a database host restarts or the network drops it."""

    def __init__(self, target: int):
        self.target = target
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.2)
        self.port = self._listener.getsockname()[1]
        self._cut, self._closed = threading.Event(), threading.Event()
        self._pairs: list[tuple[socket.socket, socket.socket]] = []
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._accept, name="tcp-proxy", daemon=True)
        self._thread.start()

    def cut(self) -> None:
        self._cut.set()
        with self._lock:
            pairs, self._pairs = self._pairs, []
        for pair in pairs:
            for sock in pair:
                _reset(sock)

    def restore(self) -> None:
        self._cut.clear()

    def close(self) -> None:
        self._closed.set()
        self.cut()
        self._thread.join()
        self._listener.close()

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            if self._cut.is_set():
                _reset(client)
                continue
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target), timeout=5)
            except OSError:
                _reset(client)
                continue
            for sock in (client, upstream):
                sock.settimeout(None)
            with self._lock:
                self._pairs.append((client, upstream))
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=_pump, args=(source, sink), daemon=True).start()


def _pump(source: socket.socket, sink: socket.socket) -> None:
    try:
        while data := source.recv(65536):
            sink.sendall(data)
    except OSError:
        pass
    finally:
        _reset(source)
        _reset(sink)


def _reset(sock: socket.socket) -> None:
    """Close with a TCP reset, as a host that went away does, rather than a polite goodbye."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))   # on, 0 s: reset
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    sock.close()


def filesystem_broker(home: Path) -> tuple[str, dict[str, Any]]:
    """(url, transport options) of the file-system broker that processes with RNNSERVICE_HOME=home use, read from
    the settings as they would read them."""
    environment = {"RNNSERVICE_HOME": str(home), "CELERY_BROKER_URL": "filesystem://localhost/"}
    saved = {name: os.environ.get(name) for name in environment}
    os.environ.update(environment)
    try:
        options = runpy.run_path(str(ROOT / "rnnservice" / "settings.py"))["CELERY_BROKER_TRANSPORT_OPTIONS"]
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name)
            else:
                os.environ[name] = value
    return environment["CELERY_BROKER_URL"], options
