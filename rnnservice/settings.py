"""Django settings: one file, every value from an environment variable with a default that needs no server."""
from __future__ import annotations

import os
import re
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name, str(default)).strip().lower()
    if value not in {"true", "false", "1", "0", "yes", "no"}:
        raise ImproperlyConfigured(f"{name}={value!r}: use true or false")
    return value in {"true", "1", "yes"}


def env_int(name: str, default: int, *, minimum: int = 0) -> int:
    value = os.environ.get(name, "").strip()
    if not value:
        return default
    try:
        number = int(value.replace("_", ""))
    except ValueError:
        raise ImproperlyConfigured(f"{name}={value!r}: use a whole number") from None
    if number < minimum:
        raise ImproperlyConfigured(f"{name}={number}: use a number of at least {minimum}")
    return number


def env_list(name: str, default: str) -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


def env_path(name: str, default: Path) -> Path:
    return Path(os.environ.get(name) or default).expanduser().resolve()


# All local state (the SQLite database, the broker's folders, uploads, model versions) lives under one
# folder, so that a checkout works with nothing installed and one `rm -r` starts afresh.
RNNSERVICE_HOME = env_path("RNNSERVICE_HOME", BASE_DIR / ".rnnservice")
RNNSERVICE_HOME.mkdir(parents=True, exist_ok=True)

DEBUG = env_bool("DJANGO_DEBUG", False)
SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "")
if not SECRET_KEY:
    # A known key signs sessions anyone could forge, so it is only ever used by an explicit development setup.
    if not DEBUG:
        raise ImproperlyConfigured("DJANGO_SECRET_KEY must be set when DJANGO_DEBUG is false; "
                                   "for local development set DJANGO_DEBUG=true to use a built-in key")
    SECRET_KEY = "django-insecure-development-only-key-do-not-use-in-production"
ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]")
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS", "")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "rnnservice.apps.RnnserviceConfig",
    "apps.datasets",
    "apps.registry",
    "apps.serving",
    "apps.training",
    "apps.local",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # Static files (the admin's, the API docs') straight from gunicorn: no separate file server to run.
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "rnnservice.urls"
WSGI_APPLICATION = "rnnservice.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASES = {
    "default": dj_database_url.config(default=f"sqlite:///{RNNSERVICE_HOME / 'db.sqlite3'}",
                                      conn_max_age=env_int("DATABASE_CONN_MAX_AGE", 0), conn_health_checks=True),
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # The web process and a worker write to the same file. IMMEDIATE takes the write lock when a transaction
    # starts, so a waiting writer waits (up to `timeout` seconds) instead of failing with "database is locked"
    # halfway through; WAL lets readers go on while one process writes.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        timeout=20, transaction_mode="IMMEDIATE", init_command="PRAGMA journal_mode=WAL")

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = env_path("STATIC_ROOT", RNNSERVICE_HOME / "static")     # filled by `manage.py collectstatic`
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    # Compressed copies and content-hashed names that WhiteNoise serves with far-future cache headers. The
    # names come from the manifest collectstatic writes (the Dockerfile runs it); with DJANGO_DEBUG=true the
    # files are served from the apps' folders as they are, with no collectstatic.
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}
# Uploaded data sets are private: MEDIA_ROOT is never served over HTTP, so there is no MEDIA_URL route.
MEDIA_ROOT = env_path("MEDIA_ROOT", RNNSERVICE_HOME / "media")
MODELS_STORE = env_path("MODELS_STORE", RNNSERVICE_HOME / "models_store")

RNNSERVICE_DEVICE = os.environ.get("RNNSERVICE_DEVICE", "auto").strip()
if not re.fullmatch(r"auto|cpu|cuda(:[0-9]+)?", RNNSERVICE_DEVICE):
    raise ImproperlyConfigured(f"RNNSERVICE_DEVICE={RNNSERVICE_DEVICE!r}: use auto, cpu, cuda or cuda:N")

# Upload limits, per file. The size is checked before a byte is stored; a front proxy should cap the
# request body as well (nginx client_max_body_size), since Django receives the whole upload first.
RNNSERVICE_MAX_UPLOAD_BYTES = env_int("RNNSERVICE_MAX_UPLOAD_BYTES", 200 * 1024 * 1024, minimum=1)
RNNSERVICE_MAX_UPLOAD_LINES = env_int("RNNSERVICE_MAX_UPLOAD_LINES", 5_000_000, minimum=1)

# Prediction and evaluation (apps.serving). Loaded models are kept per process, the least recently used
# dropped first: each takes its weights' size in memory (CPU or GPU). A request over a limit gets a 400 that
# names the setting. Evaluation runs inside the request, so its size is capped too; the `evaluate` command
# has no such cap.
SERVING_CACHE_SIZE = env_int("SERVING_CACHE_SIZE", 4, minimum=1)
SERVING_MAX_ITEMS = env_int("SERVING_MAX_ITEMS", 64, minimum=1)                   # inputs per request
SERVING_MAX_TOKENS = env_int("SERVING_MAX_TOKENS", 512, minimum=1)                # per input, in the model's tokens
SERVING_MAX_BEAM = env_int("SERVING_MAX_BEAM", 10, minimum=1)                     # translation: beam_size
SERVING_MAX_OUTPUT_LENGTH = env_int("SERVING_MAX_OUTPUT_LENGTH", 256, minimum=1)  # translation: output tokens
SERVING_MAX_EVALUATE_EXAMPLES = env_int("SERVING_MAX_EVALUATE_EXAMPLES", 10_000, minimum=1)

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.TokenAuthentication",     # first: a 401 names Token in WWW-Authenticate
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "rnnservice.api.exception_handler",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "rnnservice API",
    "DESCRIPTION": "Train, version and serve recurrent sequence models.",
    "VERSION": "0.1.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,      # file fields appear as binary uploads in request bodies
    # Two models have a `status` with other choices: name each enum, or the schema gets "Status398Enum".
    "ENUM_NAME_OVERRIDES": {"DatasetStatusEnum": "apps.datasets.models.Dataset.Status",
                            "TrainingJobStatusEnum": "apps.training.models.TrainingJob.Status"},
}

# Celery. The default broker is kombu's file-system transport under RNNSERVICE_HOME, so that one machine
# works with nothing installed; redis://... or amqp://... in production.
# The host part means nothing to the file-system transport, but without one kombu warns on every connection.
CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL", "filesystem://localhost/")
if CELERY_BROKER_URL.startswith("filesystem://"):
    _broker = RNNSERVICE_HOME / "broker"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        # One folder both ways: the web process writes where the worker reads.
        "data_folder_in": str(_broker / "messages"),
        "data_folder_out": str(_broker / "messages"),
        # A worker takes a message by renaming it into this folder, on the same disk, so that of two
        # workers only one gets it (the default moves it to /tmp, which may be another disk: copy + delete).
        "store_processed": True,
        "processed_folder": str(_broker / "processed"),
        "control_folder": str(_broker / "control"),
        "polling_interval": 0.5,
    }
    for _folder in ("messages", "processed", "control"):
        (_broker / _folder).mkdir(parents=True, exist_ok=True)
CELERY_TASK_DEFAULT_QUEUE = "default"
CELERY_TASK_ROUTES = {"apps.training.tasks.train_model": {"queue": "training"}}
CELERY_TASK_IGNORE_RESULT = True             # no result backend: tasks write their outcome to the database
CELERY_WORKER_PREFETCH_MULTIPLIER = 1        # a long job must not hold queued work that an idle worker could take
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True

# Training jobs (apps.training). A running job writes a heartbeat every TRAINING_HEARTBEAT_SECONDS; one silent
# for TRAINING_STALE_SECONDS is taken for dead (its worker was killed: neither broker gives its message back
# in time) and sent to the queue again, to resume from its checkpoint, at most TRAINING_MAX_ATTEMPTS times in
# all. The check runs when a worker starts and every TRAINING_STALE_SECONDS from celery beat.
TRAINING_HEARTBEAT_SECONDS = env_int("TRAINING_HEARTBEAT_SECONDS", 10, minimum=1)
TRAINING_STALE_SECONDS = env_int("TRAINING_STALE_SECONDS", 60, minimum=1)
TRAINING_MAX_ATTEMPTS = env_int("TRAINING_MAX_ATTEMPTS", 3, minimum=1)
CELERY_BEAT_SCHEDULE = {
    "requeue-stale-training-jobs": {"task": "apps.training.tasks.requeue_stale_jobs",
                                    "schedule": float(TRAINING_STALE_SECONDS),
                                    "options": {"expires": float(TRAINING_STALE_SECONDS)}},  # the next one is due
}
CELERY_BEAT_SCHEDULE_FILENAME = str(RNNSERVICE_HOME / "celerybeat-schedule")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("DJANGO_LOG_LEVEL", "INFO")},
}
