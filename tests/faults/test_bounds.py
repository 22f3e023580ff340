"""Bounded by design (issue 15), against a real gunicorn: bodies past their size, JSON nested past its depth and an
input past its characters are refused with a 400 that names the setting, before any costly work, and the server
answers on."""
from __future__ import annotations

import json
import socket
import urllib.error
import urllib.request

from tests.processes import Http, free_port, wait_until


def send(base: str, path: str, body: bytes, *, token: str = "", content_type: str = "application/json",
         headers: dict[str, str] | None = None) -> tuple[int, dict]:
    """POST raw bytes (a body json.dumps would refuse to write, or one too large); (status, JSON)."""
    headers = {"Content-Type": content_type, **({"Authorization": f"Token {token}"} if token else {}),
               **(headers or {})}
    request = urllib.request.Request(base + path, data=body, method="POST", headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_it_refuses_deep_large_and_long_bodies_with_a_400_naming_the_limit(processes, alice, token, make_version):
    make_version(alice, task="translation")             # de-en
    port = free_port()
    # A body limit above the long input below, so that the characters limit is the one it meets.
    processes.web(port, RNNSERVICE_MAX_BODY_BYTES=str(3 * 1024 * 1024))
    base, http = f"http://127.0.0.1:{port}", Http(f"http://127.0.0.1:{port}", token)
    wait_until(http.answers, "the web server", processes)

    # JSON nested a thousand levels deep, at the token endpoint (no login) and at a prediction.
    deep = b"[" * 1000 + b"]" * 1000
    for path, with_token in (("/api/auth/token/", ""), ("/api/models/de-en/predict/", token)):
        status, body = send(base, path, deep, token=with_token)
        assert (status, body["limit"], body["value"]) == (400, "RNNSERVICE_MAX_JSON_DEPTH", 1000), body

    # A body over the size limit is refused by its Content-Length: answered before the client has sent it.
    declared = 4 * 1024 * 1024
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(f"POST /api/auth/token/ HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                     f"Content-Length: {declared}\r\n\r\n{{\"username\": \"alice\", ".encode())
        answer = sock.makefile("rb")
        status_line = answer.readline().decode()
        headers = dict(line.decode().rstrip("\r\n").split(": ", 1) for line in iter(answer.readline, b"\r\n"))
        body = json.loads(answer.read(int(headers["Content-Length"])))
    assert status_line.split()[1] == "400", (status_line, body)
    assert (body.get("limit"), body.get("value")) == ("RNNSERVICE_MAX_BODY_BYTES", declared), body
    assert "the request body" in body["detail"]

    # A 2.4 MB string for translation: refused by its length before the model, and so its tokenizer, is loaded.
    long_input = json.dumps({"inputs": ["Ein Hund. " * 240_000]}).encode()
    status, body = send(base, "/api/models/de-en/predict/", long_input, token=token)
    assert (status, body["limit"], body["value"], body["index"]) == (400, "SERVING_MAX_INPUT_CHARS", 2_400_000, 0)
    assert "model cache: loaded" not in processes.log("web")

    # The server answers on, and a request within the limits is served.
    status, body, _ = http.post("/api/models/de-en/predict/", {"inputs": ["Ein Hund."]})
    assert (status, body["version"]) == (200, 1), body
    assert http.answers()
