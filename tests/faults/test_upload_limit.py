"""An over-size upload to the real web server (granian, rnnservice/server.py) is refused as soon as its file passes
RNNSERVICE_MAX_UPLOAD_BYTES: the 400 naming the limit and the field arrives while the client has sent only part of
the body it declared, nothing is stored, and the server answers on."""
from __future__ import annotations

import json
import socket

from apps.datasets.models import Dataset
from tests.processes import Http, free_port, wait_until

BOUNDARY = "limitboundary"
LIMIT = 64 * 1024


def test_an_over_size_upload_is_refused_at_the_limit_not_after_the_whole_body(processes, token, media_root):
    port = free_port()
    processes.web(port, RNNSERVICE_MAX_UPLOAD_BYTES=str(LIMIT))
    http = Http(f"http://127.0.0.1:{port}", token)
    wait_until(http.answers, "the web server", processes)
    head = (f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"name\"\r\n\r\nhuge\r\n"
            f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"task\"\r\n\r\nclassification\r\n"
            f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"train\"; filename=\"train.tsv\"\r\n"
            "Content-Type: text/tab-separated-values\r\n\r\n").encode()
    declared = 50 * 1024 * 1024                       # what the client says it will send
    sent = head + b"a line of text\t1\n" * (4 * LIMIT // 17)     # four times the limit, then nothing more

    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(f"POST /api/datasets/ HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Token {token}\r\n"
                     f"Content-Type: multipart/form-data; boundary={BOUNDARY}\r\n"
                     f"Content-Length: {declared}\r\n\r\n".encode() + sent)
        answer = sock.makefile("rb")
        status_line = answer.readline().decode()       # answered although most of the body never came
        headers = dict(line.decode().rstrip("\r\n").lower().split(": ", 1) for line in iter(answer.readline, b"\r\n"))
        body = json.loads(answer.read(int(headers["content-length"])))

    assert status_line.split()[1] == "400", (status_line, body)
    assert (body["limit"], body["maximum"], body["field"]) == ("RNNSERVICE_MAX_UPLOAD_BYTES", LIMIT, "train"), body
    assert body["detail"].startswith(f"the train file is larger than {LIMIT:,} bytes")
    assert not Dataset.objects.exists()
    assert not media_root.exists() or not any(media_root.rglob("*.*"))
    wait_until(http.answers, "the server to answer on", processes)
