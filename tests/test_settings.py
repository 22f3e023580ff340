"""Tests for rnnservice/settings.py, run afresh with a given environment each time."""
from __future__ import annotations

import os
import runpy
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

ROOT = Path(__file__).resolve().parents[1]
SETTINGS = ROOT / "rnnservice" / "settings.py"
VARIABLES = ("DJANGO_DEBUG", "DJANGO_SECRET_KEY", "DATABASE_URL", "CELERY_BROKER_URL", "MEDIA_ROOT", "MODELS_STORE",
             "RNNSERVICE_DEVICE", "RNNSERVICE_MAX_UPLOAD_BYTES", "RNNSERVICE_MAX_UPLOAD_LINES",
             "RNNSERVICE_MAX_UPLOAD_LINE_CHARS", "DJANGO_HTTPS", "DJANGO_HSTS_SECONDS",
             "DJANGO_HSTS_INCLUDE_SUBDOMAINS", "DJANGO_HSTS_PRELOAD", "CACHE_URL", "RNNSERVICE_THROTTLE_TOKEN",
             "RNNSERVICE_THROTTLE_PREDICT", "RNNSERVICE_NUM_PROXIES")


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


def test_it_reads_request_rates_and_the_cache_from_the_environment(load):
    default = load(DJANGO_DEBUG="true")
    assert (default["RNNSERVICE_THROTTLE_TOKEN"], default["RNNSERVICE_THROTTLE_PREDICT"]) == ("10/min", "50/s")
    assert default["CACHES"]["default"]["BACKEND"] == "django.core.cache.backends.locmem.LocMemCache"
    assert default["REST_FRAMEWORK"]["NUM_PROXIES"] == 0
    shared = load(DJANGO_DEBUG="true", RNNSERVICE_THROTTLE_TOKEN="5/hour", RNNSERVICE_THROTTLE_PREDICT="off",
                  CACHE_URL="redis://redis:6379/1", RNNSERVICE_NUM_PROXIES="1")
    assert (shared["RNNSERVICE_THROTTLE_TOKEN"], shared["RNNSERVICE_THROTTLE_PREDICT"]) == ("5/hour", None)
    assert shared["CACHES"]["default"] == {"BACKEND": "django.core.cache.backends.redis.RedisCache",
                                           "LOCATION": "redis://redis:6379/1"}
    assert shared["REST_FRAMEWORK"]["NUM_PROXIES"] == 1
    with pytest.raises(ImproperlyConfigured, match="RNNSERVICE_THROTTLE_TOKEN='10 per minute': use N/s"):
        load(DJANGO_DEBUG="true", RNNSERVICE_THROTTLE_TOKEN="10 per minute")
    with pytest.raises(ImproperlyConfigured, match="CACHE_URL='memcached://cache:11211'"):
        load(DJANGO_DEBUG="true", CACHE_URL="memcached://cache:11211")


def test_it_turns_on_https_behind_a_tls_proxy(load):
    plain = load(DJANGO_DEBUG="true")
    assert (plain["SECURE_SSL_REDIRECT"], plain["SESSION_COOKIE_SECURE"], plain["SECURE_HSTS_SECONDS"]) == (
        False, False, 0)
    https = load(DJANGO_SECRET_KEY="s3cret", DJANGO_HTTPS="true")
    assert https["SECURE_PROXY_SSL_HEADER"] == ("HTTP_X_FORWARDED_PROTO", "https")
    assert https["SECURE_SSL_REDIRECT"] and https["SESSION_COOKIE_SECURE"] and https["CSRF_COOKIE_SECURE"]
    assert (https["SECURE_HSTS_SECONDS"], https["SECURE_HSTS_INCLUDE_SUBDOMAINS"], https["SECURE_HSTS_PRELOAD"]) == (
        31_536_000, True, False)


def test_it_redirects_plain_http_but_for_the_probes(client, db, settings):
    settings.SECURE_SSL_REDIRECT = True
    assert client.get("/healthz").status_code == 200                  # the orchestrator asks over plain HTTP
    redirect = client.get("/api/models/")
    assert (redirect.status_code, redirect["Location"]) == (301, "https://testserver/api/models/")
    behind_proxy = client.get("/api/models/", headers={"X-Forwarded-Proto": "https"})
    assert behind_proxy.status_code == 301                            # not trusted without SECURE_PROXY_SSL_HEADER
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    assert client.get("/api/models/", headers={"X-Forwarded-Proto": "https"}).status_code == 401


def check_deploy(tmp_path: Path, **environment: str) -> subprocess.CompletedProcess:
    """`manage.py check --deploy` with the production settings and only these variables (no test settings)."""
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "DJANGO_SETTINGS_MODULE": "rnnservice.settings",
           "RNNSERVICE_HOME": str(tmp_path / "home"), **environment}
    return subprocess.run([sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=120)


def test_the_deploy_check_passes_with_production_settings_from_the_environment(tmp_path):
    production = {"DJANGO_SECRET_KEY": secrets.token_urlsafe(50), "DJANGO_ALLOWED_HOSTS": "rnn.example.com",
                  "DJANGO_HTTPS": "true", "DJANGO_HSTS_PRELOAD": "true"}
    done = check_deploy(tmp_path, **production)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "System check identified no issues" in done.stdout
    # The HTTPS settings the check asks for come from the environment: without DJANGO_HTTPS it fails.
    plain = check_deploy(tmp_path, **{**production, "DJANGO_HTTPS": "false"})
    assert plain.returncode != 0
    assert {"security.W004", "security.W008", "security.W012", "security.W016"} <= set(
        word.strip("():") for word in plain.stderr.split())


@pytest.mark.parametrize(("environment", "named"), [
    ({}, "export DJANGO_DEBUG=true"),
    ({"DJANGO_DEBUG": "maybe"}, "DJANGO_DEBUG='maybe': use true or false"),
])
def test_manage_py_says_in_a_few_lines_what_to_set_instead_of_a_traceback(tmp_path, environment, named):
    done = check_deploy(tmp_path, **environment)           # no DJANGO_SECRET_KEY
    assert done.returncode == 2
    assert named in done.stderr
    assert "Traceback" not in done.stderr and len(done.stderr.splitlines()) <= 4
    assert done.stderr.startswith("manage.py: the configuration is not usable: ")
