"""The app granian serves (rnnservice/server.py): Django's WSGI handler behind granian's RSGI interface, so that a
request's body is read on the event loop, under a deadline, before the request takes a thread (issue 15, item 3).

Under plain WSGI a server hands the app a request as soon as its headers are in, and the app's thread then blocks
reading the body: a client that sends its body a byte at a time holds that thread as long as it likes (and
granian cannot interrupt such a read). Here:
- a body of at most RNNSERVICE_MAX_BODY_BYTES (every API call but an upload) is read asynchronously; one not in
  within WEB_BODY_TIMEOUT seconds of the request's start is answered 408 and the connection closed. A chunked body
  (no Content-Length) is read the same way, and refused 411 when it runs past that limit;
- only then does the request go to Django, on one of WEB_THREADS threads (a fixed pool: the Python work at once,
  and the database connection each thread keeps, stay bounded however many clients wait);
- a larger Content-Length goes to Django unread: the API's parsers refuse it by its length alone (a 400 naming the
  limit), and a data set upload, which authenticates its caller first, reads it through the event loop, each read
  under the same deadline plus a second per MiB declared.
granian times out slow headers itself (WEB_HEADER_TIMEOUT). Measured against gunicorn and granian's own WSGI and
ASGI interfaces in bench/RESULTS.md (Serving: the server).
"""
from __future__ import annotations

import asyncio
import io
import json
import os
import sys
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from django.conf import settings
from django.core.wsgi import get_wsgi_application
from django.http import UnreadablePostError

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "rnnservice.settings")

SECONDS_PER_MIB = 1.0                  # the extra time a large body (an upload) gets
REASONS = {400: "Bad Request", 408: "Request Timeout", 411: "Length Required", 500: "Internal Server Error"}
WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


class Late(Exception):
    """The body did not arrive by its deadline."""


class DjangoOverRSGI:
    """An RSGI app that reads the body under a deadline, then runs a WSGI app on a pool of `threads` threads."""

    def __init__(self, app: WSGIApp, *, seconds: float, max_bytes: int, threads: int):
        self.app, self.seconds, self.max_bytes = app, seconds, max_bytes
        self._threads = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="django")

    async def __call__(self, scope: Any, proto: Any) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.seconds
        headers = scope.headers
        chunked = "chunked" in (headers.get("transfer-encoding") or "").lower()
        try:
            length = int(headers.get("content-length") or 0)
        except ValueError:
            length = -1
        if length < 0:
            return _answer(proto, 400, "Content-Length is not a whole number")
        body: Any = b""
        if chunked or 0 < length <= self.max_bytes:
            try:
                body = await _read(proto, deadline, self.max_bytes)
            except Late:
                return _answer(proto, 408, f"the request body did not arrive within WEB_BODY_TIMEOUT="
                                           f"{self.seconds:g} s")
            if len(body) > self.max_bytes:
                return _answer(proto, 411, f"a chunked body over RNNSERVICE_MAX_BODY_BYTES={self.max_bytes} bytes "
                                           "needs a Content-Length")
            if not chunked and len(body) < length:
                return _answer(proto, 400, f"the connection closed after {len(body)} of the {length} bytes of "
                                           "the body (Content-Length)")
            stream: Any = io.BytesIO(body)
            length = len(body)
        elif length:
            stream = _LoopStream(proto, loop, deadline + SECONDS_PER_MIB * length / 2**20)
        else:
            stream = io.BytesIO()
        environ = _environ(scope, stream, length)
        status, response_headers, content = await loop.run_in_executor(self._threads, _respond, self.app, environ)
        proto.response_bytes(status, response_headers, content)


async def _read(proto: Any, deadline: float, max_bytes: int) -> bytes:
    """The body, up to max_bytes + 1 bytes, by `deadline` (loop time) or Late. One timer for the whole body (a
    wait_for per chunk made a task and a timer for each chunk)."""
    parts, size = [], 0
    try:
        async with asyncio.timeout_at(deadline):
            async for chunk in proto:
                parts.append(chunk)
                size += len(chunk)
                if size > max_bytes:
                    break
    except TimeoutError:
        raise Late from None
    return b"".join(parts)


class _LoopStream(io.RawIOBase):
    """A large body for Django's thread, read from the event loop chunk by chunk as Django asks, by `deadline`."""

    def __init__(self, proto: Any, loop: asyncio.AbstractEventLoop, deadline: float):
        self._chunks, self._loop, self._deadline, self._buffer = proto.__aiter__(), loop, deadline, b""
        self._done = False

    def readable(self) -> bool:
        return True

    def readinto(self, target: Any) -> int:
        while not self._buffer and not self._done:
            future = asyncio.run_coroutine_threadsafe(self._next(), self._loop)
            try:
                self._buffer = future.result(timeout=max(0.0, self._deadline - self._loop.time()))
            except TimeoutError:
                future.cancel()
                raise UnreadablePostError("the request body did not arrive in time (WEB_BODY_TIMEOUT)") from None
        size = min(len(target), len(self._buffer))
        target[:size], self._buffer = self._buffer[:size], self._buffer[size:]
        return size

    async def _next(self) -> bytes:
        try:
            return await self._chunks.__anext__()
        except StopAsyncIteration:
            self._done = True
            return b""


def _environ(scope: Any, stream: Any, length: int) -> dict[str, Any]:
    host, _, port = scope.server.rpartition(":")
    client = scope.client.rpartition(":")[0] if ":" in scope.client else scope.client
    environ = {
        "REQUEST_METHOD": scope.method, "SCRIPT_NAME": "",
        # WSGI strings are bytes as latin-1: the path's UTF-8 bytes, which Django decodes back.
        "PATH_INFO": scope.path.encode("utf-8").decode("latin-1"), "QUERY_STRING": scope.query_string,
        "SERVER_NAME": host or "localhost", "SERVER_PORT": port or "80", "REMOTE_ADDR": client.strip("[]"),
        "SERVER_PROTOCOL": f"HTTP/{scope.http_version}", "CONTENT_LENGTH": str(length) if length else "",
        "wsgi.version": (1, 0), "wsgi.url_scheme": scope.scheme, "wsgi.input": io.BufferedReader(stream)
        if isinstance(stream, _LoopStream) else stream, "wsgi.errors": sys.stderr, "wsgi.multithread": True,
        "wsgi.multiprocess": True, "wsgi.run_once": False,
    }
    for name, value in scope.headers.items():
        key = name.upper().replace("-", "_")
        if key in ("CONTENT_LENGTH", "TRANSFER_ENCODING"):
            continue
        key = key if key == "CONTENT_TYPE" else f"HTTP_{key}"
        environ[key] = f"{environ[key]},{value}" if key in environ else value
    return environ


def _respond(app: WSGIApp, environ: dict[str, Any]) -> tuple[int, list[tuple[str, str]], bytes]:
    """The app's whole response, closed on the thread of its request (Django's request_finished runs there). The
    service streams nothing: its largest answers are the static files of the API docs."""
    started: list[Any] = []

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> None:
        started[:] = [int(status.split(" ", 1)[0]), headers]

    response = app(environ, start_response)
    try:
        content = b"".join(response)
    finally:
        if hasattr(response, "close"):
            response.close()
    return started[0], started[1], content


def _answer(proto: Any, status: int, detail: str) -> None:
    """A JSON error, the connection closed after it (the rest of the body, if any, is never read)."""
    body = json.dumps({"detail": detail}).encode()
    proto.response_bytes(status, [("content-type", "application/json"), ("connection", "close")], body)


def _torch_threads() -> None:
    """Each worker computes with its share of the cores (torch's default is all of them, in every process);
    rnnservice/server.py sets TORCH_THREADS for its workers."""
    threads = int(os.environ.get("TORCH_THREADS") or 0)
    if threads:
        import torch
        torch.set_num_threads(threads)
        torch.set_num_interop_threads(1)        # inference runs one graph at a time: no inter-op pool needed


_torch_threads()
application = DjangoOverRSGI(get_wsgi_application(), seconds=float(os.environ.get("WEB_BODY_TIMEOUT") or 10),
                             max_bytes=settings.RNNSERVICE_MAX_BODY_BYTES,
                             threads=int(os.environ.get("WEB_THREADS") or 16))
