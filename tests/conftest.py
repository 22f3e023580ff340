"""Fixtures for the Django tests: alice owns things, bob is a second user, charlie a stranger, staff sees all;
tiny trained model versions for the registry and serving."""
from __future__ import annotations

import itertools
import shutil
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import boto3
import pytest
from django.test import Client
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from apps.registry.models import ModelVersion
from apps.registry.services import version_create
from rnnservice.settings import s3_storage
from tests.factories import UserFactory
from tests.trained import (
    EXAMPLES,
    SERIES_EXAMPLES,
    SERIES_NAMES,
    TASK_NAMES,
    forecast_csv,
    train_tiny,
    train_tiny_forecaster,
    train_tiny_series,
)


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path):
    """Each test stores its uploads in a folder of its own."""
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


@pytest.fixture(autouse=True)
def api_answers_as_its_schema_says(monkeypatch):
    """Every answer a test client (Django's, DRF's) gets under /api/ is checked against /api/schema/: a status it
    declares, a body it validates, errors included (tests/openapi.py)."""
    from tests.openapi import check_response  # here: the schema is made at the first answer, not at import

    request = Client.request

    def checked(self, **kwargs):
        response = request(self, **kwargs)
        check_response(response)
        return response
    monkeypatch.setattr(Client, "request", checked)


@pytest.fixture
def alice(db):
    return UserFactory(username="alice")


@pytest.fixture
def bob(db):
    return UserFactory(username="bob")


@pytest.fixture
def charlie(db):
    return UserFactory(username="charlie")


@pytest.fixture
def staff(db):
    return UserFactory(username="sam", is_staff=True)


@pytest.fixture
def api_as(db) -> Callable[..., APIClient]:
    """api_as(user) -> an APIClient that sends the user's token, as a real client would."""
    def client_for(user) -> APIClient:
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.get_or_create(user=user)[0].key}")
        return client
    return client_for


@pytest.fixture
def api(api_as, alice) -> APIClient:
    return api_as(alice)


@pytest.fixture
def models_store(settings, tmp_path):
    """Each test that registers model versions keeps them in a store of its own."""
    settings.MODELS_STORE = tmp_path / "models_store"
    return settings.MODELS_STORE


@pytest.fixture(scope="session")
def tiny_model_dirs(tmp_path_factory) -> dict[str, Path]:
    """One tiny model version folder per task, trained once per test run (tests/trained.py); copy before use."""
    root = tmp_path_factory.mktemp("tiny-models")
    return {task: train_tiny(task, root / task) for task in EXAMPLES}


@pytest.fixture(scope="session")
def tiny_series_dirs(tmp_path_factory) -> dict[str, Path]:
    """One tiny model of numeric series per task that has them (classification, tagging); copy before use."""
    root = tmp_path_factory.mktemp("tiny-series-models")
    return {task: train_tiny_series(task, root / task) for task in SERIES_EXAMPLES}


@pytest.fixture(scope="session")
def tiny_forecaster_dir(tmp_path_factory) -> Path:
    """A tiny forecaster of `load` and `temp` (look-back 12, horizon 4) trained on tests/trained.py's forecast_csv,
    once per test run; copy before use (make_forecaster does)."""
    root = tmp_path_factory.mktemp("tiny-forecaster")
    (root / "waves.csv").write_text(forecast_csv())
    return train_tiny_forecaster(root / "version", root / "waves.csv")


@pytest.fixture
def make_forecaster(models_store, tiny_forecaster_dir, tmp_path) -> Callable[..., ModelVersion]:
    """make_forecaster(owner, name="load", dataset=None) -> a registered copy of the tiny forecaster."""
    copies = itertools.count(1)

    def register(owner, name: str = "load", **kwargs) -> ModelVersion:
        source = tmp_path / "incoming-forecaster" / str(next(copies))
        shutil.copytree(tiny_forecaster_dir, source)
        return version_create(owner=owner, model_name=name, task="forecasting", source_dir=source, **kwargs)
    return register


@pytest.fixture
def make_version(request, models_store, tiny_model_dirs, tmp_path) -> Callable[..., ModelVersion]:
    """make_version(owner, name=None, task="classification", dataset=None, metrics=None, series=False) -> a
    ModelVersion that version_create registered from a fresh copy of the tiny model of `task` (of numeric series
    with series=True), named after the task by default."""
    copies = itertools.count(1)

    def register(owner, name: str | None = None, task: str = "classification", series: bool = False,
                 **kwargs) -> ModelVersion:
        source = tmp_path / "incoming" / str(next(copies))
        # The series models are trained only by the tests that ask for one.
        dirs = request.getfixturevalue("tiny_series_dirs") if series else tiny_model_dirs
        shutil.copytree(dirs[task], source)
        default_name = (SERIES_NAMES if series else TASK_NAMES)[task]
        return version_create(owner=owner, model_name=name or default_name, task=task, source_dir=source, **kwargs)
    return register


@pytest.fixture(scope="session")
def s3_server() -> Iterator[str]:
    """A real S3-compatible server (moto's) on 127.0.0.1 for the whole run: its endpoint URL."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@dataclass
class Bucket:
    name: str
    client: object                    # boto3's S3 client, to look at or change the objects behind the service's back

    def keys(self, prefix: str = "") -> list[str]:
        listed = self.client.list_objects_v2(Bucket=self.name, Prefix=prefix)
        return sorted(item["Key"] for item in listed.get("Contents", []))


@pytest.fixture
def s3_bucket(settings, monkeypatch, s3_server) -> Bucket:
    """A fresh bucket, with the settings that MODELS_STORE_URL=s3://<bucket>/models and
    MEDIA_STORE_URL=s3://<bucket>/media, AWS_S3_ENDPOINT_URL and the AWS_* credentials give."""
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(name, "testing")
    client = boto3.client("s3", endpoint_url=s3_server, region_name="us-east-1")
    bucket = Bucket(f"rnnservice-{uuid.uuid4().hex[:12]}", client)
    client.create_bucket(Bucket=bucket.name)
    settings.AWS_S3_ENDPOINT_URL, settings.AWS_S3_REGION_NAME = s3_server, "us-east-1"
    settings.AWS_S3_ADDRESSING_STYLE = "path"
    settings.STORAGES = {**settings.STORAGES,
                         "models": s3_storage("MODELS_STORE_URL", f"s3://{bucket.name}/models", overwrite=True),
                         "default": s3_storage("MEDIA_STORE_URL", f"s3://{bucket.name}/media", overwrite=False)}
    return bucket
