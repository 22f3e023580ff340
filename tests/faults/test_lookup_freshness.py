"""Each web process keeps a token's user and the version a name and alias choose for SERVING_LOOKUP_SECONDS (1):
a promotion and a revoked token take effect in every process within that second. Two real servers on one
database, as two web machines (or two workers) are."""
from __future__ import annotations

import sys
import time

from rest_framework.authtoken.models import Token

from apps.registry.services import alias_set
from tests.processes import Http, free_port, wait_until

SECONDS = 1
PREDICT = "/api/models/sentiment/predict/"


def test_a_promotion_and_a_revoked_token_reach_every_process_within_a_second(processes, alice, token, make_version):
    first = make_version(alice, task="classification")
    make_version(alice, task="classification")                       # version 2
    alias_set(model=first.model, alias="production", version_number=1)
    servers = []
    for name in ("web", "web-2"):
        port = free_port()
        processes.start(name, [sys.executable, "-m", "rnnservice.server"], WEB_HOST="127.0.0.1", WEB_PORT=str(port),
                        WEB_WORKERS="1", WEB_THREADS="4", TORCH_THREADS="1",
                        SERVING_LOOKUP_SECONDS=str(SECONDS))
        servers.append(Http(f"http://127.0.0.1:{port}", token))
    for http in servers:
        wait_until(http.answers, "the web servers", processes)

    def served() -> list[tuple[int, object]]:
        answers = [http.post(PREDICT, {"inputs": ["a lovely movie ."]})[:2] for http in servers]
        return [(status, body.get("version") if isinstance(body, dict) else body) for status, body in answers]

    assert served() == [(200, 1), (200, 1)]                          # each process has read token and alias
    alias_set(model=first.model, alias="production", version_number=2)
    time.sleep(SECONDS + 0.5)
    assert served() == [(200, 2), (200, 2)]

    Token.objects.filter(key=token).delete()
    time.sleep(SECONDS + 0.5)
    assert [status for status, _ in served()] == [401, 401]
