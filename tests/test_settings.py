"""Tests for rnnservice/settings.py, run afresh with a given environment each time."""
from __future__ import annotations

import runpy
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

SETTINGS = Path(__file__).resolve().parents[1] / "rnnservice" / "settings.py"
VARIABLES = ("DJANGO_DEBUG", "DJANGO_SECRET_KEY", "DATABASE_URL", "CELERY_BROKER_URL", "MEDIA_ROOT", "MODELS_STORE",
             "RNNSERVICE_DEVICE", "RNNSERVICE_MAX_UPLOAD_BYTES", "RNNSERVICE_MAX_UPLOAD_LINES")


@pytest.fixture
def load(monkeypatch, tmp_path):
    """load(**environment) -> the settings module's names, read with only these variables set (and a fresh home)."""
    def load_settings(**environment: str) -> dict:
        for name in VARIABLES:
            monkeypatch.delenv(name, raising=False)
        monkeypatch.setenv("RNNSERVICE_HOME", str(tmp_path / "home"))
        for name, value in environment.items():
            monkeypatch.setenv(name, value)
        return runpy.run_path(str(SETTINGS))
    return load_settings


def test_it_needs_a_secret_key_unless_debug_is_on(load):
    with pytest.raises(ImproperlyConfigured, match="DJANGO_SECRET_KEY must be set"):
        load()
    assert load(DJANGO_SECRET_KEY="s3cret")["DEBUG"] is False
    debug = load(DJANGO_DEBUG="true")
    assert debug["DEBUG"] is True
    assert debug["SECRET_KEY"].startswith("django-insecure-")


def test_it_refuses_values_it_cannot_read(load):
    with pytest.raises(ImproperlyConfigured, match="DJANGO_DEBUG='maybe': use true or false"):
        load(DJANGO_DEBUG="maybe")
    with pytest.raises(ImproperlyConfigured, match="RNNSERVICE_MAX_UPLOAD_BYTES='10MB': use a whole number"):
        load(DJANGO_DEBUG="true", RNNSERVICE_MAX_UPLOAD_BYTES="10MB")
    with pytest.raises(ImproperlyConfigured, match="at least 1"):
        load(DJANGO_DEBUG="true", RNNSERVICE_MAX_UPLOAD_LINES="0")
    with pytest.raises(ImproperlyConfigured, match="RNNSERVICE_DEVICE='gpu'"):
        load(DJANGO_DEBUG="true", RNNSERVICE_DEVICE="gpu")


def test_it_keeps_all_local_state_under_the_home_folder(load, tmp_path):
    home = tmp_path / "home"
    settings = load(DJANGO_DEBUG="true")
    assert settings["RNNSERVICE_HOME"] == home
    assert settings["DATABASES"]["default"]["ENGINE"] == "django.db.backends.sqlite3"
    assert settings["DATABASES"]["default"]["NAME"] == str(home / "db.sqlite3")
    assert (settings["MEDIA_ROOT"], settings["MODELS_STORE"]) == (home / "media", home / "models_store")
    assert settings["CELERY_BROKER_URL"] == "filesystem://localhost/"
    options = settings["CELERY_BROKER_TRANSPORT_OPTIONS"]
    assert options["data_folder_in"] == options["data_folder_out"] == str(home / "broker" / "messages")
    for key in ("data_folder_in", "processed_folder", "control_folder"):
        assert Path(options[key]).is_dir()
    assert settings["RNNSERVICE_MAX_UPLOAD_BYTES"] == 200 * 1024 * 1024


def test_it_takes_servers_and_limits_from_the_environment(load):
    settings = load(DJANGO_SECRET_KEY="s3cret", DATABASE_URL="postgres://rnn:pw@db:5432/rnnservice",
                    CELERY_BROKER_URL="redis://redis:6379/0", RNNSERVICE_DEVICE="cuda:1",
                    RNNSERVICE_MAX_UPLOAD_LINES="1_000")
    database = settings["DATABASES"]["default"]
    assert (database["ENGINE"], database["HOST"], database["NAME"]) == (
        "django.db.backends.postgresql", "db", "rnnservice")
    assert settings["CELERY_BROKER_URL"] == "redis://redis:6379/0"
    assert "CELERY_BROKER_TRANSPORT_OPTIONS" not in settings
    assert settings["RNNSERVICE_DEVICE"] == "cuda:1"
    assert settings["RNNSERVICE_MAX_UPLOAD_LINES"] == 1000


def test_it_routes_training_to_its_own_queue_and_everything_else_to_default(load):
    settings = load(DJANGO_DEBUG="true")
    assert settings["CELERY_TASK_ROUTES"] == {"apps.training.tasks.train_model": {"queue": "training"}}
    assert settings["CELERY_TASK_DEFAULT_QUEUE"] == "default"
