"""PostgreSQL unreachable for a while, with a job training: the API answers a JSON 503 that names the database,
/readyz reports it, and web and workers recover by themselves, without a restart; the job finishes once. Real
processes: granian, a training worker and a default-queue worker with celery beat, all reaching the database
through a TCP proxy that the test cuts and restores. PostgreSQL only: `make test-services` runs it."""
from __future__ import annotations

import time

import pytest
from django.conf import settings
from django.contrib.sessions.backends.db import SessionStore
from django.db import connection

from apps.registry.models import ModelVersion
from apps.training.models import TrainingJob
from tests.datasets.test_worker import database_url
from tests.processes import Http, TcpProxy, free_port, wait_until
from tests.training.conftest import TINY_ARCHITECTURE, tiny_launch, valid_dataset
from tests.training.test_worker import synthetic_dataset

FAST = {"TRAINING_HEARTBEAT_SECONDS": "1", "DATABASE_CONNECT_TIMEOUT": "2",
        # Persistent connections, checked before reuse (conn_health_checks): the case where a broken connection
        # could outlive the outage, unlike one opened per request.
        "DATABASE_CONN_MAX_AGE": "60"}
FINISHED = ("succeeded", "failed", "cancelled")
# (TRAINING_STALE_SECONDS, what in the training worker's log shows the outage has lasted long enough, attempts).
# Shorter than TRAINING_STALE_SECONDS, the job's writes are tried again until they pass and the attempt goes on;
# longer, the attempt gives up and leaves the job to the stale check, which sends it again once the database is
# back, and the next attempt resumes it from its checkpoint.
OUTAGES = {
    "short": ("8", "not written, trying again", 1),
    "long": ("3", "stops, the database cannot be reached", 2),
}


@pytest.fixture
def proxy(transactional_db):
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL to cut off (DATABASE_URL=postgres://...): `make test-services` runs it; "
                    "SQLite is a file, with no server to lose")
    server = TcpProxy(target=int(connection.settings_dict["PORT"] or 5432))
    yield server
    server.close()


@pytest.mark.parametrize("outage", OUTAGES)
def test_it_answers_503_while_the_database_is_unreachable_and_recovers_without_a_restart(
        proxy, processes, alice, token, tmp_path, outage):
    stale, felt, attempts = OUTAGES[outage]
    through_proxy = database_url({**connection.settings_dict, "HOST": "127.0.0.1", "PORT": str(proxy.port)})
    environment = {"DATABASE_URL": through_proxy, "CELERY_BROKER_URL": "filesystem://localhost/",
                   "TRAINING_STALE_SECONDS": stale, **FAST}
    port = free_port()
    web = processes.web(port, **environment)
    trainer = processes.worker("trainer", "training", **environment)
    processes.worker("default", "default", "--beat", "--schedule", str(tmp_path / "beat-schedule"), **environment)
    http = Http(f"http://127.0.0.1:{port}", token)
    data = synthetic_dataset(alice, tmp_path, sentences=1000)
    wait_until(http.answers, "the web server", processes)
    processes.wait_ready("trainer", "default")

    status, job, _ = http.post("/api/training-jobs/", {
        "dataset": data.pk, "model_name": "through-an-outage", "architecture": {**TINY_ARCHITECTURE, "char_dim": 0},
        "training": {"epochs": 12, "batch_size": 16, "patience": 100}})
    assert status == 201, job
    wait_until(lambda: TrainingJob.objects.filter(pk=job["id"], status="running").exclude(epochs=[]).exists(),
               "the job's first epoch", processes)

    session = SessionStore()
    session.create()                      # a browser's admin session, in the database

    proxy.cut()
    assert TrainingJob.objects.get(pk=job["id"]).status == "running", "it ended too soon: make epochs slower"
    status, body, headers = http.get("/api/training-jobs/")
    assert (status, body["unavailable"]) == (503, "database"), body
    assert "the database cannot be reached" in body["detail"]
    assert headers["Content-Type"] == "application/json" and int(headers["Retry-After"]) > 0
    status, body, _ = http.post("/api/training-jobs/", {"dataset": data.pk, "model_name": "refused"})
    assert (status, body["unavailable"]) == (503, "database")
    status, body, _ = http.get("/readyz")
    assert (status, body["failed"], body["checks"]["database"]) == (503, ["database"], "failed")
    # An admin page (outside DRF: its session is read from the database) is a 503 page too, not a 500.
    status, page, headers = http.get("/admin/", headers={"Cookie": f"{settings.SESSION_COOKIE_NAME}={session}"})
    assert (status, headers["Content-Type"].split(";")[0], int(headers["Retry-After"]) > 0) == (503, "text/html", True)
    assert "The database cannot be reached" in page
    # Held until the training worker has felt it as long as this case needs, and for a few seconds at least.
    wait_until(lambda: felt in processes.log("trainer"), f"{felt!r} in the training worker's log", processes)
    time.sleep(2)
    assert http.get("/readyz")[0] == 503
    proxy.restore()

    wait_until(lambda: http.get("/readyz")[0] == 200, "readiness again", processes)
    assert http.get("/api/training-jobs/")[0] == 200
    wait_until(lambda: TrainingJob.objects.filter(pk=job["id"], status__in=FINISHED).exists(), "the job", processes,
               deadline=120)
    finished = TrainingJob.objects.select_related("version").get(pk=job["id"])
    assert (finished.status, finished.error) == ("succeeded", ""), f"{finished.log_tail}\n{processes.logs()}"
    assert finished.attempts == attempts, f"{finished.log_tail}\n{processes.logs()}"
    assert [row["epoch"] for row in finished.epochs] == list(range(1, 13))
    if attempts == 2:
        assert "attempt 2 started from its last checkpoint on trainer@" in finished.log_tail
    assert finished.log_tail.count("succeeded:") == 1
    assert list(ModelVersion.objects.values_list("model__name", "number")) == [("through-an-outage", 1)]

    # The same processes serve and train on: nothing was restarted.
    tiny = valid_dataset(alice, name="tiny ud")
    status, again, _ = http.post("/api/training-jobs/", {"dataset": tiny.pk, "model_name": "after", **tiny_launch()})
    assert status == 201, again
    wait_until(lambda: TrainingJob.objects.filter(pk=again["id"], status__in=FINISHED).exists(), "a job after it",
               processes)
    assert TrainingJob.objects.get(pk=again["id"]).status == "succeeded"
    assert web.poll() is None and trainer.poll() is None
    assert processes.log("web").count("Spawning worker") == 1           # granian did not replace its worker
