"""A real Celery worker process validates an uploaded dataset, over the broker and database of the settings."""
from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from urllib.parse import quote

import pytest
from django.db import connection

from apps.datasets.models import Dataset
from apps.local.processes import start_process, stop_processes
from tests.datasets.helpers import upload

ROOT = Path(__file__).resolve().parents[2]
DEADLINE = 40          # seconds; the worker starts in a few, but this machine may be busy


def database_url(settings: dict) -> str:
    """A DATABASE_URL for the test database this process uses, so that the worker opens the same one."""
    if settings["ENGINE"] == "django.db.backends.sqlite3":
        return f"sqlite:///{settings['NAME']}"
    if settings["ENGINE"] == "django.db.backends.postgresql":
        user = f"{quote(settings['USER'])}:{quote(settings['PASSWORD'])}@" if settings["USER"] else ""
        return f"postgres://{user}{settings['HOST'] or 'localhost'}:{settings['PORT'] or 5432}/{settings['NAME']}"
    pytest.skip(f"no DATABASE_URL for {settings['ENGINE']}")


@pytest.fixture
def worker(transactional_db, media_root, tmp_path):
    """`celery worker -Q default` in a subprocess on the tests' broker folders, database and media folder."""
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "rnnservice.settings", "MEDIA_ROOT": str(media_root),
           "DATABASE_URL": database_url(connection.settings_dict), "DJANGO_LOG_LEVEL": "WARNING"}
    log = tmp_path / "worker.log"
    with log.open("wb") as out:
        process = start_process(
            [sys.executable, "-m", "celery", "-A", "rnnservice.celery", "worker", "-Q", "default", "--pool", "solo",
             "-c", "1", "--without-heartbeat", "--without-gossip", "--without-mingle", "--loglevel", "INFO"],
            cwd=ROOT, env=env, stdout=out, orphaned_stop=False)
    try:
        yield process, log
    finally:
        stop_processes([process], grace=15)   # SIGTERM: a warm shutdown, after the task in hand


def test_it_validates_an_upload_in_a_worker_process(worker, api):
    process, log = worker
    response = upload(api, name="through a worker", task="tagging", files={"train": "tiny.conllu"})
    assert response.status_code == 201
    assert response.data["status"] == "pending"

    deadline = time.monotonic() + DEADLINE
    dataset = Dataset.objects.get(pk=response.data["id"])
    while dataset.status == "pending" and time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.2)
        dataset.refresh_from_db()
    assert dataset.status == "valid", f"worker exit code {process.poll()}; its log:\n{log.read_text()}"
    assert dataset.statistics["splits"]["train"]["examples"] == 2
    assert "apps.datasets.tasks.validate_dataset" in log.read_text()
