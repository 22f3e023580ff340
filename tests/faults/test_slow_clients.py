"""Slow and idle clients cannot hold the web server (issue 15, item 3), with real sockets against the real server
(granian, rnnservice/server.py): more slow clients than it has request threads, sending headers or a body a byte
at a time, while a fresh client is answered; late headers are dropped, a late body answered 408; a chunked body
is read (or refused 411 past the body limit); a client that goes away mid-body costs nothing."""
from __future__ import annotations

import json
import socket
import time
from pathlib import Path

from tests.processes import Http, free_port, wait_until

DATA = Path(__file__).resolve().parents[1] / "data"
THREADS = 4                    # processes.web() starts one worker of 4 request threads
TIMEOUT = 2                    # WEB_HEADER_TIMEOUT and WEB_BODY_TIMEOUT, in seconds


def connect(port: int) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=30)
    return sock


def answer(sock: socket.socket) -> tuple[int | None, dict]:
    """(status, JSON body) of the server's answer on `sock`; (None, {}) when it closed without answering."""
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        lengths = [int(line.split(b":")[1]) for line in head.split(b"\r\n")
                   if line.lower().startswith(b"content-length:")]
        if lengths and len(body) >= lengths[0]:
            return int(head.split()[1]), json.loads(body[:lengths[0]])
    return None, {}


def post_head(path: str, **headers: str) -> bytes:
    lines = [f"POST {path} HTTP/1.1", "Host: 127.0.0.1", "Content-Type: application/json",
             *(f"{name.replace('_', '-')}: {value}" for name, value in headers.items())]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def test_slow_clients_do_not_hold_the_server_and_late_ones_are_dropped(processes):
    port = free_port()
    processes.web(port, WEB_HEADER_TIMEOUT=str(TIMEOUT), WEB_BODY_TIMEOUT=str(TIMEOUT),
                  RNNSERVICE_MAX_BODY_BYTES="1000")
    http = Http(f"http://127.0.0.1:{port}")
    wait_until(http.answers, "the web server", processes)

    # Twice as many slow clients of each kind as the server has request threads.
    slow_headers, slow_bodies = [], []
    for _ in range(2 * THREADS):
        sock = connect(port)
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n")            # and never the blank line
        slow_headers.append(sock)
        sock = connect(port)
        sock.sendall(post_head("/api/auth/token/", Content_Length="100") + b'{"username"')   # 11 of 100 bytes
        slow_bodies.append(sock)
    # Meanwhile a fresh client is answered, again and again.
    for _ in range(3):
        assert http.request("GET", "/healthz", timeout=10)[0] == 200
    # A client that sends a byte a second keeps being late: the deadline counts from the request's start.
    trickle = connect(port)
    trickle.sendall(post_head("/api/auth/token/", Content_Length="10"))
    for byte in b"{}   ":
        trickle.sendall(bytes([byte]))
        time.sleep(0.5)

    for sock in slow_bodies + [trickle]:
        status, body = answer(sock)
        assert status == 408, body
        assert "WEB_BODY_TIMEOUT=2 s" in body["detail"]
        sock.close()
    for sock in slow_headers:
        assert answer(sock) == (None, {})                # dropped without an answer
        sock.close()
    assert http.request("GET", "/healthz")[0] == 200


def test_chunked_bodies_are_read_or_refused_411_and_a_client_gone_mid_body_costs_nothing(processes, token,
                                                                                        tmp_path):
    port = free_port()
    processes.web(port, WEB_BODY_TIMEOUT=str(TIMEOUT), RNNSERVICE_MAX_BODY_BYTES="1000")
    http = Http(f"http://127.0.0.1:{port}")
    wait_until(http.answers, "the web server", processes)

    # Chunked, no Content-Length: read to its end and parsed (wrong credentials: the fields were read).
    body = json.dumps({"username": "nobody", "password": "wrong"}).encode()
    chunks = b"".join(b"%x\r\n%s\r\n" % (len(part), part) for part in (body[:7], body[7:])) + b"0\r\n\r\n"
    with connect(port) as sock:
        sock.sendall(post_head("/api/auth/token/", Transfer_Encoding="chunked") + chunks)
        status, answered = answer(sock)
    assert (status, answered.get("detail")) == (400, "Unable to log in with provided credentials.")

    # Chunked past RNNSERVICE_MAX_BODY_BYTES: 411, naming the limit.
    big = b"x" * 1500
    with connect(port) as sock:
        sock.sendall(post_head("/api/auth/token/", Transfer_Encoding="chunked")
                     + b"%x\r\n%s\r\n0\r\n\r\n" % (len(big), big))
        status, answered = answer(sock)
    assert status == 411 and "RNNSERVICE_MAX_BODY_BYTES=1000" in answered["detail"], answered

    # An upload over the body limit is read by Django through the event loop (authenticated first), not refused.
    upload = tmp_path / "train.conllu"
    upload.write_text((DATA / "tiny.conllu").read_text() * 4)              # 2 KB, over the limit of 1000
    status, answered, _ = Http(f"http://127.0.0.1:{port}", token).post(
        "/api/datasets/", {"name": "read through the loop", "task": "tagging"}, files={"train": upload})
    assert (status, answered.get("name")) == (201, "read through the loop"), answered

    # Clients that close halfway through their bodies: the server answers on.
    for _ in range(2 * THREADS):
        with connect(port) as sock:
            sock.sendall(post_head("/api/auth/token/", Content_Length="100") + b'{"user')
    assert http.request("GET", "/healthz")[0] == 200
    assert "Traceback" not in processes.log("web")
