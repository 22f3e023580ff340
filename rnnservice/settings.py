"""Django settings: one file, every value from an environment variable with a default that needs no server."""
from __future__ import annotations

import os
import re
from pathlib import Path
from urllib.parse import urlsplit

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


def env_rate(name: str, default: str) -> str | None:
    """A request rate for DRF's throttles, N/s, N/min, N/hour or N/day; None for "off"."""
    value = os.environ.get(name, "").strip().lower() or default
    if value == "off":
        return None
    if not re.fullmatch(r"[1-9][0-9]*/(s|sec|second|m|min|minute|h|hour|d|day)", value):
        raise ImproperlyConfigured(f"{name}={value!r}: use N/s, N/min, N/hour or N/day (N at least 1), or off")
    return value


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

# HTTPS, for a deployment behind a TLS proxy that sets X-Forwarded-Proto (and drops a client's own). Off by
# default: `make run` and a bare `docker compose up` answer plain HTTP. On, plain HTTP is redirected (but for
# the probes, which an orchestrator sends from inside), cookies are sent over HTTPS only, and browsers are told
# to use HTTPS alone for DJANGO_HSTS_SECONDS.
HTTPS = env_bool("DJANGO_HTTPS", False)
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if HTTPS else None
SECURE_SSL_REDIRECT = HTTPS
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$"]
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = HTTPS
SECURE_HSTS_SECONDS = env_int("DJANGO_HSTS_SECONDS", 365 * 24 * 3600 if HTTPS else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("DJANGO_HSTS_INCLUDE_SUBDOMAINS", HTTPS)
SECURE_HSTS_PRELOAD = env_bool("DJANGO_HSTS_PRELOAD", False)       # a promise to the browsers' list: opt in

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
    "drf_spectacular_sidecar",        # Swagger UI and ReDoc as static files: the docs need no CDN
    "rnnservice.apps.RnnserviceConfig",
    "apps.datasets",
    "apps.registry",
    "apps.serving",
    "apps.training",
    "apps.local",
]

MIDDLEWARE = [
    # Outermost, so that every response carries its X-Request-ID and every request is timed, errors included.
    "rnnservice.logs.RequestIdMiddleware",
    "rnnservice.prometheus.RequestMetricsMiddleware",
    "django.middleware.security.SecurityMiddleware",
    # Static files (the admin's, the API docs') straight from the web server (granian): no separate file server.
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

# Connections are kept DATABASE_CONN_MAX_AGE seconds and checked before reuse: opening one per request cost the
# prediction endpoint 15% of its throughput (bench/RESULTS.md). Each gunicorn thread keeps its own, so a web
# machine holds up to GUNICORN_WORKERS x GUNICORN_THREADS connections; PostgreSQL's max_connections must allow
# that for every machine (or set 0: one connection per request).
DATABASES = {
    "default": dj_database_url.config(default=f"sqlite:///{RNNSERVICE_HOME / 'db.sqlite3'}",
                                      conn_max_age=env_int("DATABASE_CONN_MAX_AGE", 60), conn_health_checks=True),
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # The web process and a worker write to the same file. IMMEDIATE takes the write lock when a transaction
    # starts, so a waiting writer waits (up to `timeout` seconds) instead of failing with "database is locked"
    # halfway through; WAL lets readers go on while one process writes.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        timeout=20, transaction_mode="IMMEDIATE", init_command="PRAGMA journal_mode=WAL")
elif DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # A database host that does not answer (down, or cut off by the network) fails a connection within this many
    # seconds, so that a request gets its 503 and a worker tries again, instead of waiting minutes for TCP to
    # give up.
    DATABASES["default"].setdefault("OPTIONS", {}).setdefault(
        "connect_timeout", env_int("DATABASE_CONNECT_TIMEOUT", 5, minimum=1))

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


def s3_storage(name: str, url: str, *, overwrite: bool) -> dict:
    """A STORAGES entry for django-storages' S3 backend from `s3://bucket/prefix`, the value of setting `name`."""
    parts = urlsplit(url)
    if parts.scheme != "s3" or not parts.netloc:
        raise ImproperlyConfigured(f"{name}={url!r}: use s3://bucket or s3://bucket/prefix")
    return {"BACKEND": "storages.backends.s3.S3Storage",
            "OPTIONS": {"bucket_name": parts.netloc, "location": parts.path.strip("/"), "file_overwrite": overwrite}}


# An S3-compatible bucket for several machines (apps/registry/bucket.py). MODELS_STORE stays each machine's working
# copy: with MODELS_STORE_URL, a version's files are uploaded there as it is registered, and a machine that lacks
# a version's folder downloads it (checked against the recorded sha256) before loading it. MEDIA_STORE_URL keeps
# uploaded data sets in a bucket instead of MEDIA_ROOT. Credentials come from boto3's usual places
# (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, an instance role...), never from here.
MODELS_STORE_URL = os.environ.get("MODELS_STORE_URL", "").strip()
MEDIA_STORE_URL = os.environ.get("MEDIA_STORE_URL", "").strip()
AWS_S3_ENDPOINT_URL = os.environ.get("AWS_S3_ENDPOINT_URL", "").strip() or None     # MinIO and the like
AWS_S3_REGION_NAME = os.environ.get("AWS_S3_REGION_NAME", "").strip() or None
AWS_S3_ADDRESSING_STYLE = os.environ.get("AWS_S3_ADDRESSING_STYLE", "").strip() or None   # "path" for most MinIO
if MODELS_STORE_URL:
    # Overwrite: a version's object names are fixed (<model>/<number>/<file>); an upload whose registration
    # rolled back leaves objects that the next version given that number replaces.
    STORAGES["models"] = s3_storage("MODELS_STORE_URL", MODELS_STORE_URL, overwrite=True)
if MEDIA_STORE_URL:
    STORAGES["default"] = s3_storage("MEDIA_STORE_URL", MEDIA_STORE_URL, overwrite=False)

# The threads torch computes with in each process (web worker, Celery worker, command); 0: torch's default,
# every core. Set it where several such processes share a box, so that together they do not outnumber the
# cores: a thread fighting for a core makes torch many times slower, not a little. The web server
# (rnnservice/server.py) gives each of its workers its share of the cores when this is not set.
TORCH_THREADS = env_int("TORCH_THREADS", 0)
RNNSERVICE_DEVICE = os.environ.get("RNNSERVICE_DEVICE", "auto").strip()
if not re.fullmatch(r"auto|cpu|cuda(:[0-9]+)?", RNNSERVICE_DEVICE):
    raise ImproperlyConfigured(f"RNNSERVICE_DEVICE={RNNSERVICE_DEVICE!r}: use auto, cpu, cuda or cuda:N")

# Upload limits, per file. The size is checked as the file arrives, before a byte is stored; a front proxy may cap
# the request body as well (nginx client_max_body_size).
RNNSERVICE_MAX_UPLOAD_BYTES = env_int("RNNSERVICE_MAX_UPLOAD_BYTES", 200 * 1024 * 1024, minimum=1)
RNNSERVICE_MAX_UPLOAD_LINES = env_int("RNNSERVICE_MAX_UPLOAD_LINES", 5_000_000, minimum=1)
# The longest line an upload may have, in characters: by default the longest the core's parsers read.
RNNSERVICE_MAX_UPLOAD_LINE_CHARS = env_int("RNNSERVICE_MAX_UPLOAD_LINE_CHARS", 100_000, minimum=1)
# A multipart file is counted as it arrives, and the request stopped as soon as one passes
# RNNSERVICE_MAX_UPLOAD_BYTES (apps/datasets/uploads.py), before the handlers that keep it in memory or a file.
FILE_UPLOAD_HANDLERS = ["apps.datasets.uploads.UploadLimitHandler",
                        "django.core.files.uploadhandler.MemoryFileUploadHandler",
                        "django.core.files.uploadhandler.TemporaryFileUploadHandler"]

# Prediction and evaluation (apps.serving). Loaded models are kept per process, the least recently used
# dropped first: each takes its weights' size in memory (CPU or GPU). A request over a limit gets a 400 that
# names the setting. Evaluation runs inside the request, so its size is capped too; the `evaluate` command
# has no such cap.
SERVING_CACHE_SIZE = env_int("SERVING_CACHE_SIZE", 4, minimum=1)
SERVING_CACHE_BYTES = env_int("SERVING_CACHE_BYTES", 2 * 1024**3, minimum=1)      # weights of all cached models
# Dynamic batching: concurrent requests for one model share forward passes of up to SERVING_BATCH_MAX_ITEMS
# inputs. Under concurrent load a batch waits up to SERVING_BATCH_WAIT_MS after its first request to fill; a
# lone client never waits. Off, each request thread runs its own forward pass.
SERVING_BATCHING = env_bool("SERVING_BATCHING", True)
SERVING_BATCH_MAX_ITEMS = env_int("SERVING_BATCH_MAX_ITEMS", 64, minimum=1)
SERVING_BATCH_WAIT_MS = env_int("SERVING_BATCH_WAIT_MS", 5, minimum=0)
# A batch also holds at most SERVING_BATCH_MAX_TOKENS padded tokens (its longest input's length times its inputs), and
# gathers requests of similar lengths; one that has waited SERVING_BATCH_MAX_DELAY_MS is not held back for a better fit.
SERVING_BATCH_MAX_TOKENS = env_int("SERVING_BATCH_MAX_TOKENS", 4096, minimum=1)
SERVING_BATCH_MAX_DELAY_MS = env_int("SERVING_BATCH_MAX_DELAY_MS", 50, minimum=0)
# Each web process keeps a token's user and the version a name and alias choose this many seconds (0: not at all):
# a revoked token and a promotion take effect everywhere within it (rnnservice/fresh.py).
SERVING_LOOKUP_SECONDS = env_int("SERVING_LOOKUP_SECONDS", 1, minimum=0)
# What a version's forward passes run on: "auto", the faster of PyTorch and ONNX Runtime as measured when the version
# was saved (where its ONNX export passed the check against PyTorch); "torch" always; "onnx" wherever the check
# passed (rnnservice/ml/runtime.py).
SERVING_RUNTIME = os.environ.get("SERVING_RUNTIME", "auto").strip().lower()
if SERVING_RUNTIME not in {"auto", "torch", "onnx"}:
    raise ImproperlyConfigured(f"SERVING_RUNTIME={SERVING_RUNTIME!r}: use auto, torch or onnx")
SERVING_MAX_ITEMS = env_int("SERVING_MAX_ITEMS", 64, minimum=1)                   # inputs per request
SERVING_MAX_TOKENS = env_int("SERVING_MAX_TOKENS", 512, minimum=1)                # per input, in the model's tokens
SERVING_MAX_FRAMES = env_int("SERVING_MAX_FRAMES", 10_000, minimum=1)             # per numeric series input
SERVING_MAX_BEAM = env_int("SERVING_MAX_BEAM", 10, minimum=1)                     # translation: beam_size
SERVING_MAX_OUTPUT_LENGTH = env_int("SERVING_MAX_OUTPUT_LENGTH", 256, minimum=1)  # translation: output tokens
SERVING_MAX_EVALUATE_EXAMPLES = env_int("SERVING_MAX_EVALUATE_EXAMPLES", 10_000, minimum=1)
SERVING_MAX_SAMPLES = env_int("SERVING_MAX_SAMPLES", 16, minimum=1)               # generation: num_samples per input

# Request bodies of the API other than uploads (rnnservice/parsers.py): JSON and forms are refused past this many
# bytes before they are read in full, and JSON nested deeper than this before it is parsed. A prediction input
# longer than SERVING_MAX_INPUT_CHARS characters is refused before a tokenizer reads it (a 2.4 MB string cost the
# subword tokenizer 2 s of CPU before SERVING_MAX_TOKENS could refuse it).
RNNSERVICE_MAX_BODY_BYTES = env_int("RNNSERVICE_MAX_BODY_BYTES", 1024 * 1024, minimum=1)
RNNSERVICE_MAX_JSON_DEPTH = env_int("RNNSERVICE_MAX_JSON_DEPTH", 32, minimum=1)
SERVING_MAX_INPUT_CHARS = env_int("SERVING_MAX_INPUT_CHARS", 20_000, minimum=1)

# Request rates (rnnservice/throttling.py): the token endpoint per client address, against password guessing;
# prediction per user, so that one client cannot take every worker. Over it, a 429 with Retry-After. The counts
# live in the cache below, shared by every web process when it is Redis.
RNNSERVICE_THROTTLE_TOKEN = env_rate("RNNSERVICE_THROTTLE_TOKEN", "10/min")
RNNSERVICE_THROTTLE_PREDICT = env_rate("RNNSERVICE_THROTTLE_PREDICT", "50/s")
# Proxies in front of the web server (the TLS proxy: 1): a client's address is then taken from X-Forwarded-For,
# this many entries from its end. 0 trusts no such header, which a client could write itself.
RNNSERVICE_NUM_PROXIES = env_int("RNNSERVICE_NUM_PROXIES", 0)

# Redis (CACHE_URL=redis://host:6379/1) where several processes serve the API, since the web server's workers and
# web machines must count requests together; else this process's memory, enough for one process (make run).
CACHE_URL = os.environ.get("CACHE_URL", "").strip()
if CACHE_URL and not CACHE_URL.startswith(("redis://", "rediss://", "unix://")):
    raise ImproperlyConfigured(f"CACHE_URL={CACHE_URL!r}: use redis://HOST:PORT/DB (or rediss://, unix://)")
CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": CACHE_URL} if CACHE_URL
          else {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rnnservice.authentication.TokenAuthentication",     # first: a 401 names Token in WWW-Authenticate
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    # drf-spectacular's, plus the error answers of each operation (401, 404, 429...) in the error shape.
    "DEFAULT_SCHEMA_CLASS": "rnnservice.schema.ApiSchema",
    "EXCEPTION_HANDLER": "rnnservice.api.exception_handler",
    "NUM_PROXIES": RNNSERVICE_NUM_PROXIES,
    # JSON only, bounded in size and depth (RNNSERVICE_MAX_BODY_BYTES, RNNSERVICE_MAX_JSON_DEPTH): one content type
    # per operation, as the schema says (a form body is a 415). The upload reads multipart, the token view a form too.
    "DEFAULT_PARSER_CLASSES": ["rnnservice.parsers.JSONParser"],
}
SPECTACULAR_SETTINGS = {
    "TITLE": "rnnservice API",
    "DESCRIPTION": "Train, version and serve recurrent sequence models. Authenticate with `Authorization: Bearer "
                   "KEY`, the key from POST /api/auth/token/. Bodies are JSON (the data set upload: multipart). "
                   "Every error answer is an `Error`: `detail`, one sentence, and where they apply `field`, "
                   "`index`, `file`, `line`, `limit`, and `errors` when several fields are at fault.",
    "VERSION": "0.1.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,      # file fields appear as binary uploads in request bodies
    # 3.1: JSON Schema as it is (null as a type, const), which the generators and validators read as meant.
    "OAS_VERSION": "3.1.0",
    # rnnservice/schema.py: the predict contract and the configuration from the core, request bodies closed.
    "POSTPROCESSING_HOOKS": ["drf_spectacular.hooks.postprocess_schema_enums", "rnnservice.schema.contract"],
    # Two models have a `status` with other choices: name each enum, or the schema gets "Status398Enum".
    "ENUM_NAME_OVERRIDES": {"DatasetStatusEnum": "apps.datasets.models.Dataset.Status",
                            "TrainingJobStatusEnum": "apps.training.models.TrainingJob.Status"},
    # Swagger UI and ReDoc from our own static files (drf-spectacular-sidecar), served by WhiteNoise: the docs
    # work on a machine that cannot reach a CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

# Celery. The default broker is kombu's file-system transport under RNNSERVICE_HOME, so that one machine
# works with nothing installed; redis://... or amqp://... in production.
# The host part means nothing to the file-system transport, but without one kombu warns on every connection.
CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL", "filesystem://localhost/")
if CELERY_BROKER_URL.startswith("filesystem://"):
    # kombu's transport, whose folder errors are connection errors: a worker reconnects and carries on.
    CELERY_BROKER_TRANSPORT = "rnnservice.broker:FilesystemTransport"
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
# A job's progress row (epochs, log tail) is written after an epoch, at most once every so many seconds.
TRAINING_PROGRESS_SECONDS = env_int("TRAINING_PROGRESS_SECONDS", 1, minimum=0)
# What one launch may ask for (apps/training/limits.py): the model's parameters and a training step's memory, as
# estimated at launch from the config and the dataset's statistics, and the jobs one user has queued or running at
# once. DATASET_MAX_BYTES_PER_USER caps the data set files one user has stored. Each is a 400 naming it.
TRAINING_MAX_PARAMETERS = env_int("TRAINING_MAX_PARAMETERS", 200_000_000, minimum=1)
TRAINING_MAX_MEMORY_BYTES = env_int("TRAINING_MAX_MEMORY_BYTES", 8 * 1024**3, minimum=1)
TRAINING_MAX_JOBS_PER_USER = env_int("TRAINING_MAX_JOBS_PER_USER", 4, minimum=1)
DATASET_MAX_BYTES_PER_USER = env_int("DATASET_MAX_BYTES_PER_USER", 2 * 1024**3, minimum=1)
# The address space a Celery worker may take (RLIMIT_AS, set as it starts); 0: no limit. Past it an allocation fails
# and the job fails naming it, where the kernel's OOM killer would kill the worker, and then each worker the job is
# sent to again. For CPU workers: CUDA reserves far more address space than it uses.
WORKER_MAX_MEMORY_BYTES = env_int("WORKER_MAX_MEMORY_BYTES", 0)
# A worker the kernel's OOM killer killed says nothing (SIGKILL): its job goes silent and would be sent to the next
# worker to die the same way. The machine's count of OOM kills, FILE:FIELD (kernel-wide /proc/vmstat by default; a
# cgroup v2 container's own is /sys/fs/cgroup/memory.events:oom_kill), is recorded as each attempt starts; the
# stale check on the same machine that finds the job's worker gone and the count risen fails the job once, naming
# its estimate (apps/training/oom.py). Empty: off.
WORKER_OOM_KILL_COUNTER = os.environ.get("WORKER_OOM_KILL_COUNTER", "/proc/vmstat:oom_kill").strip()
# A message can be lost on its way: a broker restarted without persistence drops what it held, and one that is
# down at a launch or an upload is never given it. The same check then sends again a job still queued
# TRAINING_QUEUED_RESEND_SECONDS after it was sent (at once when it never was); the datasets app's own periodic
# task, validation of a dataset pending for DATASET_PENDING_RESEND_SECONDS. A duplicate does nothing: a job is
# claimed by one conditional UPDATE, a dataset validated only while pending. A job merely waiting behind others
# gets one each time.
TRAINING_QUEUED_RESEND_SECONDS = env_int("TRAINING_QUEUED_RESEND_SECONDS", 300, minimum=1)
DATASET_PENDING_RESEND_SECONDS = env_int("DATASET_PENDING_RESEND_SECONDS", 300, minimum=1)
CELERY_BEAT_SCHEDULE = {
    "requeue-stale-training-jobs": {"task": "apps.training.tasks.requeue_stale_jobs",
                                    "schedule": float(TRAINING_STALE_SECONDS),
                                    "options": {"expires": float(TRAINING_STALE_SECONDS)}},  # the next one is due
    "resend-pending-datasets": {"task": "apps.datasets.tasks.resend_pending_datasets",
                                "schedule": float(DATASET_PENDING_RESEND_SECONDS),
                                "options": {"expires": float(DATASET_PENDING_RESEND_SECONDS)}},
}
CELERY_BEAT_SCHEDULE_FILENAME = str(RNNSERVICE_HOME / "celerybeat-schedule")

# Metrics for Prometheus at /metrics (rnnservice/prometheus.py), for a scraper that sends "Authorization: Bearer
# <METRICS_TOKEN>" or a logged-in staff user; nobody else. Models are labelled by id, or by name with
# METRICS_MODEL_LABEL=name. A Celery worker serves its own on METRICS_WORKER_PORT (0: none).
METRICS_TOKEN = os.environ.get("METRICS_TOKEN", "")
METRICS_MODEL_LABEL = os.environ.get("METRICS_MODEL_LABEL", "id").strip()
if METRICS_MODEL_LABEL not in {"id", "name"}:
    raise ImproperlyConfigured(f"METRICS_MODEL_LABEL={METRICS_MODEL_LABEL!r}: use id or name")
METRICS_WORKER_PORT = env_int("METRICS_WORKER_PORT", 0)
# prometheus_client reads PROMETHEUS_MULTIPROC_DIR from the environment when it is imported (multiprocess mode
# for the web server's workers and Celery's pool); one folder per service, emptied as the service starts.
PROMETHEUS_MULTIPROC_DIR = os.environ.get("PROMETHEUS_MULTIPROC_DIR", "")
if PROMETHEUS_MULTIPROC_DIR:
    Path(PROMETHEUS_MULTIPROC_DIR).mkdir(parents=True, exist_ok=True)

# Logs: text for a terminal, or one JSON object a line (python-json-logger) for a log pipeline. Each line carries
# the request id, or the Celery task id and job or dataset id (rnnservice/logs.py). Celery workers use this too.
RNNSERVICE_LOG_FORMAT = os.environ.get("RNNSERVICE_LOG_FORMAT", "text").strip().lower()
if RNNSERVICE_LOG_FORMAT not in {"text", "json"}:
    raise ImproperlyConfigured(f"RNNSERVICE_LOG_FORMAT={RNNSERVICE_LOG_FORMAT!r}: use text or json")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"context": {"()": "rnnservice.logs.LogContextFilter", "as_text": RNNSERVICE_LOG_FORMAT == "text"}},
    "formatters": {
        "text": {"format": "%(asctime)s %(levelname)s %(name)s%(context)s: %(message)s"},
        "json": {"()": "pythonjsonlogger.json.JsonFormatter", "fmt": "%(levelname)s %(name)s %(message)s",
                 "timestamp": True},
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": RNNSERVICE_LOG_FORMAT,
                             "filters": ["context"]}},
    "root": {"handlers": ["console"], "level": os.environ.get("DJANGO_LOG_LEVEL", "INFO")},
}
