"""Fixtures for the Django tests: alice owns things, bob is a second user, charlie a stranger, staff sees all;
tiny trained model versions for the registry and serving."""
from __future__ import annotations

import itertools
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from apps.registry.models import ModelVersion
from apps.registry.services import version_create
from tests.factories import UserFactory
from tests.trained import EXAMPLES, TASK_NAMES, train_tiny


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path):
    """Each test stores its uploads in a folder of its own."""
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


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


@pytest.fixture
def make_version(models_store, tiny_model_dirs, tmp_path) -> Callable[..., ModelVersion]:
    """make_version(owner, name=None, task="classification", dataset=None, metrics=None) -> a ModelVersion that
    version_create registered from a fresh copy of the tiny model of `task` (named after the task by default)."""
    copies = itertools.count(1)

    def register(owner, name: str | None = None, task: str = "classification", **kwargs) -> ModelVersion:
        source = tmp_path / "incoming" / str(next(copies))
        shutil.copytree(tiny_model_dirs[task], source)
        return version_create(owner=owner, model_name=name or TASK_NAMES[task], task=task, source_dir=source,
                              **kwargs)
    return register
