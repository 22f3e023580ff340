"""Bounded by design (issue 15), with real processes: bodies past their size, JSON nested past its depth, an input
past its characters and a model past its size are refused by granian with a 400 that names the setting, before any
costly work, and the server answers on; a job that runs out of memory in a worker fails once, naming it, and the
worker trains on."""
from __future__ import annotations

import json
import re
import socket
import urllib.error
import urllib.request
from email.message import Message
from urllib.parse import urlencode

from kombu import Connection

from apps.training.models import TrainingJob
from apps.training.services import job_launch
from apps.training.tasks import train_model
from tests.processes import Http, filesystem_broker, free_port, wait_until
from tests.training.conftest import TINY_ARCHITECTURE, tiny_launch, valid_dataset

FINISHED = ("succeeded", "failed", "cancelled")


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
        headers = dict(line.decode().rstrip("\r\n").lower().split(": ", 1)        # names are case-insensitive
                       for line in iter(answer.readline, b"\r\n"))
        body = json.loads(answer.read(int(headers["content-length"])))
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


def test_it_refuses_a_huge_model_at_launch_naming_the_estimate(processes, alice, token):
    port = free_port()
    processes.web(port)
    http = Http(f"http://127.0.0.1:{port}", token)
    data = valid_dataset(alice, name="tiny ud")
    wait_until(http.answers, "the web server", processes)
    status, body, _ = http.post("/api/training-jobs/", {
        "dataset": data.pk, "model_name": "huge", "architecture": {"embed_dim": 4096, "hidden_dim": 8192,
                                                                   "num_layers": 16}})
    assert (status, body["limit"]) == (400, "TRAINING_MAX_PARAMETERS"), body
    assert body["estimate"]["parameters"] > 10**10 and f"{body['estimate']['parameters']:,}" in body["detail"]
    assert not TrainingJob.objects.exists()
    assert "model cache" not in processes.log("web") and http.answers()


def test_a_job_out_of_memory_fails_once_naming_it_and_the_worker_trains_on(processes, alice, settings, tmp_path):
    # Past the launch's limits on purpose (raised here), to meet the worker's own: WORKER_MAX_MEMORY_BYTES.
    settings.TRAINING_MAX_PARAMETERS, settings.TRAINING_MAX_MEMORY_BYTES = 10**11, 10**13
    url, options = filesystem_broker(tmp_path / "home")
    worker = processes.worker("trainer", "training", CELERY_BROKER_URL=url,
                              WORKER_MAX_MEMORY_BYTES=str(4 * 1024**3))
    data = valid_dataset(alice, name="tiny ud")
    # About 8 GiB of parameters: their allocation fails long before any is written, so no memory is really used.
    huge = job_launch(owner=alice, dataset=data, model_name="huge", queue=False,
                      architecture={**TINY_ARCHITECTURE, "char_dim": 0, "hidden_dim": 8192, "num_layers": 4})
    tiny = job_launch(owner=alice, dataset=data, model_name="tiny", queue=False, **tiny_launch())
    processes.wait_ready("trainer")
    with Connection(url, transport_options=options) as conn:
        for job in (huge, tiny):
            train_model.apply_async((job.pk,), connection=conn)
    wait_until(lambda: TrainingJob.objects.filter(status__in=FINISHED).count() == 2, "both jobs", processes,
               deadline=120)
    huge.refresh_from_db()
    tiny.refresh_from_db()
    assert (huge.status, huge.attempts) == ("failed", 1), f"{huge.log_tail}\n{processes.logs()}"
    assert huge.error.startswith("OutOfMemory: ") and "can't allocate memory" in huge.error
    assert "the launch estimated" in huge.error and "TRAINING_MAX_MEMORY_BYTES" in huge.error
    assert (tiny.status, tiny.attempts, tiny.worker) == ("succeeded", 1, huge.worker), tiny.log_tail
    assert worker.poll() is None


def test_the_admin_without_collectstatic_says_so(processes, staff):
    port = free_port()
    processes.web(port)                   # DJANGO_DEBUG=false, and no collectstatic into STATIC_ROOT
    http = Http(f"http://127.0.0.1:{port}")
    wait_until(http.answers, "the web server", processes)
    status, page, _ = http.get("/admin/login/")
    assert status == 503 and "python manage.py collectstatic" in page
    assert "static files not collected" in processes.log("web") and http.answers()


def test_admin_logins_are_rate_limited_per_address(processes, staff):
    port = free_port()
    # DJANGO_DEBUG=true: the admin's static files as they are, with no collectstatic (the test above).
    processes.web(port, RNNSERVICE_THROTTLE_TOKEN="3/min", DJANGO_DEBUG="true")
    http = Http(f"http://127.0.0.1:{port}")
    wait_until(http.answers, "the web server", processes)
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor())
    page = opener.open(f"http://127.0.0.1:{port}/admin/login/").read().decode()
    csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)

    def attempt(password: str) -> tuple[int, str, Message]:
        form = urlencode({"username": "sam", "password": password, "csrfmiddlewaretoken": csrf}).encode()
        request = urllib.request.Request(f"http://127.0.0.1:{port}/admin/login/", data=form,
                                         headers={"Referer": f"http://127.0.0.1:{port}/admin/login/"})
        try:
            with opener.open(request, timeout=30) as response:
                return response.status, response.read().decode(), response.headers   # names in any case
        except urllib.error.HTTPError as error:
            return error.code, error.read().decode(), error.headers

    assert [attempt(f"guess{n}")[0] for n in range(3)] == [200, 200, 200]        # the form again, with its error
    status, page, headers = attempt("password")                                  # the right one waits its turn
    assert (status, 1 <= int(headers["Retry-After"]) <= 60) == (429, True)
    assert "RNNSERVICE_THROTTLE_TOKEN" in page
    assert http.answers()
