"""`manage.py run_local` as a user starts it: a real web server, workers and beat over HTTP, then Ctrl-C.

On SQLite it starts from an empty home folder (migrations included); on another database (.ci/run's second
pass, PostgreSQL) it uses the tests' database, with the broker of the settings (Redis there).
"""
from __future__ import annotations

import json
import os
import signal
import socket
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
from django.db import connection

from apps.local.processes import start_process
from tests.datasets.test_worker import database_url

ROOT = Path(__file__).resolve().parents[2]
DEADLINE = 120           # seconds to be ready: migrations, then four Django processes on a busy 2-core machine
STOP_DEADLINE = 30       # seconds to stop: a Celery worker's warm shutdown on the file-system broker takes ~5


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def processes_with_home(home: Path) -> dict[int, str]:
    """pid -> command line of every live process whose environment names this RNNSERVICE_HOME."""
    marker = f"RNNSERVICE_HOME={home}".encode()
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if marker in (entry / "environ").read_bytes().split(b"\0"):
                found[int(entry.name)] = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:                       # gone meanwhile, or not ours to read
            continue
    return found


def call(url: str, data: dict | None = None, token: str | None = None) -> tuple[int, dict]:
    request = urllib.request.Request(url, data=urllib.parse.urlencode(data).encode() if data else None)
    if token:
        request.add_header("Authorization", f"Token {token}")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}")


@pytest.fixture
def run_local(request, tmp_path):
    """Start `manage.py run_local` on a free port with a home folder of its own; yields (process, url, home, log)."""
    home, log = tmp_path / "home", tmp_path / "run_local.log"
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "rnnservice.settings", "RNNSERVICE_HOME": str(home),
           "DJANGO_DEBUG": "true", "OMP_NUM_THREADS": "1"}
    for name in ("MEDIA_ROOT", "MODELS_STORE", "STATIC_ROOT", "DJANGO_SECRET_KEY", "RNNSERVICE_DEMO_PASSWORD"):
        env.pop(name, None)                   # tests/settings.py set some: here they follow the home folder
    if connection.vendor == "sqlite":
        env.pop("DATABASE_URL", None)         # a fresh SQLite file under the home folder
    else:
        request.getfixturevalue("transactional_db")
        env["DATABASE_URL"] = database_url(connection.settings_dict)
    port = free_port()
    with log.open("wb") as out:
        process = start_process([sys.executable, "manage.py", "run_local", "--port", str(port)], cwd=ROOT, env=env,
                                stdout=out, orphaned_stop=False)
    try:
        yield process, f"http://127.0.0.1:{port}", home, log
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        for pid in processes_with_home(home):    # whatever a failed test left
            os.kill(pid, signal.SIGKILL)


def test_it_serves_the_demo_with_its_workers_and_stops_everything_on_ctrl_c(run_local):
    process, url, home, log = run_local

    def wait_until(what: str, check) -> None:
        deadline = time.monotonic() + DEADLINE
        while not check():
            if time.monotonic() > deadline or process.poll() is not None:
                pytest.fail(f"{what}: run_local exited {process.poll()}\n{log.read_text(errors='replace')}")
            time.sleep(0.5)

    def answers(path: str) -> bool:
        try:
            return call(url + path)[0] == 200
        except OSError:
            return False

    wait_until("/healthz", lambda: answers("/healthz"))
    assert call(url + "/readyz") == (200, {"status": "ok", "checks": {"database": "ok", "broker": "ok"},
                                           "failed": [], "artifacts": {"checked": 0, "unchecked": 0, "failed": 0}})
    password = (home / "demo-password.txt").read_text().strip()
    status, body = call(url + "/api/auth/token/", {"username": "demo", "password": password})
    assert status == 200, body
    token = body["token"]

    def demo_datasets() -> dict[str, str]:
        return {d["name"]: d["status"] for d in call(url + "/api/datasets/", token=token)[1]["results"]}
    wait_until("the demo data sets validated by the worker", lambda: "pending" not in demo_datasets().values())
    assert demo_datasets() == {"demo-ner": "valid", "demo-sentiment": "valid", "demo-de-en": "valid",
                               "demo-waves": "valid", "demo-load": "valid", "demo-names": "valid"}

    running = processes_with_home(home)
    commands = " ".join(running.values())
    assert process.pid in running and len(running) == 6, running         # the web server: granian and its worker
    assert "rnnservice.server" in commands and "beat" in commands
    assert "-Q default" in commands and "-Q training" in commands

    # The "ready" line comes from a thread that polls /healthz every half second: on a slow box the checks above
    # can all pass before it has looked.
    wait_until("the ready line", lambda: "ready: " in log.read_text(errors="replace"))
    process.send_signal(signal.SIGINT)        # what Ctrl-C sends to it (its programs have process groups of their own)
    assert process.wait(timeout=STOP_DEADLINE) == 0, log.read_text(errors="replace")
    deadline = time.monotonic() + 5
    while (left := processes_with_home(home)) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert left == {}, f"left running: {left}"

    output = log.read_text(errors="replace")
    assert f"Log in as 'demo' with the password {password}" in output
    assert f"{url}/admin/" in output and "ready: " in output
    assert "stopping web, default, training, beat" in output
    assert output.rstrip().endswith("| stopped")
    assert "killing" not in output
