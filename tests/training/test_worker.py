"""Real Celery worker processes on the `training` queue: a job launched over HTTP runs to success, and a job
whose worker is killed with SIGKILL mid-run is sent again and resumed from its checkpoint by a second worker,
finishing once, on the file-system broker and (when one answers on 127.0.0.1:6379) on Redis."""
from __future__ import annotations

import os
import random
import runpy
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from django.core.files import File
from django.db import connection
from django.utils import timezone
from kombu import Connection

from apps.datasets.models import Dataset
from apps.datasets.services import dataset_create, dataset_validate
from apps.local.processes import start_process, stop_processes
from apps.registry.models import ModelVersion
from apps.training.models import TrainingJob
from apps.training.services import job_launch
from apps.training.tasks import train_model
from rnnservice.celery import app
from tests.datasets.test_worker import database_url
from tests.training.conftest import TINY_ARCHITECTURE, tiny_launch

ROOT = Path(__file__).resolve().parents[2]
SETTINGS = ROOT / "rnnservice" / "settings.py"
DEADLINE = 120           # seconds for each wait; a worker starts in a few, but this machine may be busy
REDIS_URL = "redis://127.0.0.1:6379/15"
# Small values, so that a dead worker's job is seen as silent within seconds; they pass training.E001.
FAST_REQUEUE = {"TRAINING_HEARTBEAT_SECONDS": "1", "TRAINING_STALE_SECONDS": "3"}

Worker = Callable[..., subprocess.Popen]


@pytest.fixture(autouse=True)
def sent() -> list[int]:
    """Unlike the other training tests, these send train_model to a real broker."""
    return []


@pytest.fixture
def start_worker(transactional_db, media_root, models_store, tmp_path) -> Iterator[Worker]:
    """start_worker(name, **environment) -> `celery worker -Q training` in a subprocess on the tests' database,
    media folder and models store; every worker started is stopped (killed if need be) at the end."""
    processes: list[tuple[subprocess.Popen, Path]] = []
    base = {**os.environ, "DJANGO_SETTINGS_MODULE": "rnnservice.settings", "MEDIA_ROOT": str(media_root),
            "MODELS_STORE": str(models_store), "DATABASE_URL": database_url(connection.settings_dict),
            "DJANGO_LOG_LEVEL": "WARNING",
            # Tiny models gain nothing from more threads, and on a busy machine torch's spinning threads make
            # an epoch many times slower.
            "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}

    def start(name: str, **environment: str) -> subprocess.Popen:
        log = tmp_path / f"{name}.log"
        with log.open("wb") as out:
            process = start_process(
                [sys.executable, "-m", "celery", "-A", "rnnservice.celery", "worker", "-Q", "training", "-n",
                 f"{name}@%h", "--pool", "solo", "-c", "1", "--without-heartbeat", "--without-gossip",
                 "--without-mingle", "--loglevel", "INFO"],
                cwd=ROOT, env={**base, **environment}, stdout=out, orphaned_stop=False)
        processes.append((process, log))
        return process

    try:
        yield start
    finally:
        stop_processes([process for process, _ in processes], grace=10)   # SIGTERM: a warm shutdown


def logs(tmp_path: Path) -> str:
    return "\n".join(f"--- {log.name}\n{log.read_text(errors='replace')}" for log in sorted(tmp_path.glob("*.log")))


def wait_for(job: TrainingJob, done: Callable[[TrainingJob], bool], what: str, tmp_path: Path,
             *workers: subprocess.Popen) -> TrainingJob:
    deadline = time.monotonic() + DEADLINE
    while True:
        job.refresh_from_db()
        if done(job):
            return job
        if time.monotonic() > deadline or any(w.poll() is not None for w in workers):
            pytest.fail(f"{what}: job is {job.status} with {len(job.epochs)} epochs, workers exited "
                        f"{[w.poll() for w in workers]}\n{job.log_tail}\n{logs(tmp_path)}")
        time.sleep(0.1)


def purge_training_queue(url: str, options: dict) -> None:
    """Drop train_model messages other tests may have left on the broker."""
    with Connection(url, transport_options=options) as conn:
        conn.default_channel.queue_declare("training", passive=False, durable=True, auto_delete=False)
        conn.default_channel.queue_purge("training")


def test_it_trains_a_job_launched_over_http_in_a_worker_process(start_worker, api, tagging_data, models_store,
                                                                tmp_path, settings):
    purge_training_queue(settings.CELERY_BROKER_URL, getattr(settings, "CELERY_BROKER_TRANSPORT_OPTIONS", {}))
    worker = start_worker("trainer")
    response = api.post("/api/training-jobs/", {"dataset": tagging_data.pk, "model_name": "over-http",
                                                **tiny_launch()}, format="json")
    assert response.status_code == 201, response.data
    url = f"/api/training-jobs/{response.data['id']}/"

    deadline = time.monotonic() + DEADLINE
    while (detail := api.get(url).data)["status"] in ("queued", "running"):
        assert time.monotonic() < deadline and worker.poll() is None, f"{detail}\n{logs(tmp_path)}"
        time.sleep(0.2)

    assert detail["status"] == "succeeded", f"{detail}\n{logs(tmp_path)}"
    assert (detail["progress"], detail["attempts"], detail["device"], detail["error"]) == (1.0, 1, "cpu", "")
    assert detail["worker"].startswith("trainer@")
    assert [row["epoch"] for row in detail["epochs"]] == [1, 2]
    assert all("dev_accuracy" in row for row in detail["epochs"])
    assert detail["version"] == {"model": "over-http", "number": 1}
    version = ModelVersion.objects.get()
    assert (version.job.pk, version.dataset) == (detail["id"], tagging_data)
    assert (models_store / "over-http" / "1" / "manifest.json").is_file()
    assert "apps.training.tasks.train_model" in logs(tmp_path)


def synthetic_dataset(owner, folder: Path, sentences: int = 3000) -> Dataset:
    """A made-up tagging corpus large enough that an epoch of a tiny model takes about half a second."""
    rng = random.Random(7)
    lines = []
    for _ in range(sentences):
        for _ in range(rng.randint(4, 12)):
            word = rng.randrange(300)
            lines.append(f"w{word}\t{'ABCD'[word % 4]}")
        lines.append("")
    path = folder / "synthetic.txt"
    path.write_text("\n".join(lines) + "\n")
    with path.open("rb") as train:
        dataset = dataset_create(owner=owner, name="synthetic", task="tagging", format="columns",
                                 train=File(train, name=path.name), queue_validation=False)
    return dataset_validate(dataset_id=dataset.pk)


def broker(kind: str, tmp_path: Path) -> tuple[str, dict, dict[str, str]]:
    """(url, transport options, worker environment) of a broker of this test's own."""
    if kind == "redis":
        redis = pytest.importorskip("redis")
        try:
            redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1).flushdb()      # database 15: the tests'
        except redis.exceptions.ConnectionError:
            pytest.skip("no Redis on 127.0.0.1:6379")
        return REDIS_URL, {}, {"CELERY_BROKER_URL": REDIS_URL}
    # Its own folders, read from the settings as a worker with this RNNSERVICE_HOME would.
    home = tmp_path / "home"
    environment = {"RNNSERVICE_HOME": str(home), "CELERY_BROKER_URL": "filesystem://"}
    saved = {name: os.environ.get(name) for name in environment}
    os.environ.update(environment)
    try:
        options = runpy.run_path(str(SETTINGS))["CELERY_BROKER_TRANSPORT_OPTIONS"]
    finally:
        for name, value in saved.items():
            os.environ.pop(name) if value is None else os.environ.__setitem__(name, value)
    return "filesystem://", options, environment


@pytest.mark.parametrize("kind", ["filesystem", "redis"])
def test_it_resumes_a_job_whose_worker_was_killed_and_finishes_it_once(start_worker, alice, tmp_path, kind):
    url, options, environment = broker(kind, tmp_path)
    environment.update(FAST_REQUEUE)
    dataset = synthetic_dataset(alice, tmp_path)
    assert dataset.status == "valid", dataset.error
    job = job_launch(owner=alice, dataset=dataset, model_name=f"resumed-{kind}", queue=False,
                     architecture={**TINY_ARCHITECTURE, "char_dim": 0},
                     training={"epochs": 12, "batch_size": 16, "patience": 100})
    first = start_worker("first", **environment)
    with Connection(url, transport_options=options) as conn:
        train_model.apply_async((job.pk,), connection=conn)
    assert app.amqp.router.route({}, train_model.name)["queue"].name == "training"

    job = wait_for(job, lambda job: len(job.epochs) >= 1, "the first epoch", tmp_path, first)
    os.kill(first.pid, signal.SIGKILL)
    first.wait(timeout=10)
    job.refresh_from_db()
    before_kill = job.epochs
    assert (job.status, job.attempts) == ("running", 1)
    assert job.worker.startswith("first@")
    assert len(before_kill) < 12, "the job ended before the kill: make an epoch slower"

    # The message went with the worker (taken from the folder; unacknowledged on Redis until its visibility
    # timeout, an hour). Once the job has been silent for TRAINING_STALE_SECONDS, a worker that starts sends it
    # again from its worker_ready hook and takes it.
    silent = job.heartbeat_at
    while timezone.now() - silent < timezone.timedelta(seconds=3.2):
        time.sleep(0.1)
    second = start_worker("second", **environment)
    job = wait_for(job, lambda job: job.status not in ("queued", "running"), "the resumed job", tmp_path, second)

    assert job.status == "succeeded", f"{job.error}\n{job.log_tail}\n{logs(tmp_path)}"
    assert (job.attempts, job.progress) == (2, 1.0)
    assert job.worker.startswith("second@")
    numbers = [row["epoch"] for row in job.epochs]
    assert numbers == list(range(1, 13))
    assert job.epochs[:len(before_kill)] == before_kill                # kept, not trained again
    attempts = [row["attempt"] for row in job.epochs]
    assert attempts[0] == 1 and attempts[-1] == 2
    resumed_at = attempts.index(2)
    assert resumed_at >= len(before_kill)                              # the second worker started past them
    assert set(attempts[:resumed_at]) <= {1, None} and set(attempts[resumed_at:]) == {2}
    assert "sent to the queue again: no heartbeat since" in job.log_tail
    assert "attempt 2 started from its last checkpoint on second@" in job.log_tail
    assert job.log_tail.count("succeeded:") == 1
    assert ModelVersion.objects.count() == 1
    assert (job.version.model.name, job.version.number) == (f"resumed-{kind}", 1)
    if kind == "redis":
        import redis
        redis.Redis.from_url(REDIS_URL).flushdb()         # the killed worker's message, still unacknowledged
