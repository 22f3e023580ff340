"""Fixtures for the fault tests: real processes on the tests' database, media folder and models store, each
stopped at the end of its test, and the users' tokens for the web server they start."""
from __future__ import annotations

import os
import shutil
from collections.abc import Iterator

import pytest
from django.db import connection
from rest_framework.authtoken.models import Token

from tests.datasets.test_worker import database_url
from tests.processes import Processes, RedisServer


@pytest.fixture
def processes(transactional_db, media_root, models_store, settings, tmp_path) -> Iterator[Processes]:
    """Processes in the tests' environment, with the database this test uses (committed: transactional_db) and
    a home folder of the test's own (its file-system broker, beat's schedule)."""
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "rnnservice.settings", "MEDIA_ROOT": str(media_root),
           "MODELS_STORE": str(models_store), "DATABASE_URL": database_url(connection.settings_dict),
           "RNNSERVICE_HOME": str(tmp_path / "home"), "STATIC_ROOT": str(settings.STATIC_ROOT),
           "DJANGO_LOG_LEVEL": "INFO",
           # Tiny models gain nothing from more threads, and lose a lot on a busy machine: torch's threads spin.
           "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    started = Processes(tmp_path, env)
    try:
        yield started
    finally:
        started.stop_all()


@pytest.fixture
def redis_server(processes) -> RedisServer:
    """A redis-server of this test's own, started; skipped where there is no redis-server to run."""
    if shutil.which("redis-server") is None:
        pytest.skip("no redis-server on PATH (Debian: apt-get install redis-server)")
    pytest.importorskip("redis")
    server = RedisServer(processes)
    server.start()
    return server


@pytest.fixture
def token(alice) -> str:
    return Token.objects.get_or_create(user=alice)[0].key
