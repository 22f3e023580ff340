"""docker-compose.yml, the Dockerfiles and the web server's settings (rnnservice/server.py), read as files (no Docker
engine needed): every service is wired to what the code reads and to the modules that exist."""
from __future__ import annotations

import importlib.util
import re
import runpy
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SERVICES = COMPOSE["services"]
APP_SERVICES = ("migrate", "web", "worker-cpu", "worker-gpu", "beat")      # the ones that run our code
RUNNING = ("web", "worker-cpu", "worker-gpu", "beat")
DEFAULT = re.compile(r"\$\{(\w+)(?::?-([^}]*)|:\?[^}]*)?\}")


def resolved(value: str) -> str:
    """A compose value with each ${NAME:-default} as its default (and ${NAME:?error} or ${NAME} as NAME)."""
    return DEFAULT.sub(lambda match: match.group(2) if match.group(2) is not None else match.group(1), str(value))


def read_names(path: Path) -> set[str]:
    """The environment variables a Python file reads through os.environ.get or settings.py's env_* helpers."""
    return set(re.findall(r'(?:os\.environ\.get|env_bool|env_int|env_list|env_path)\(\s*"([A-Z0-9_]+)"',
                          path.read_text()))


def command(service: str) -> list[str]:
    return [resolved(part) for part in SERVICES[service]["command"]]


def test_it_has_the_services_of_a_deployment():
    assert set(SERVICES) == {"postgres", "redis", *APP_SERVICES}
    assert SERVICES["postgres"]["image"] == "postgres:16"
    assert SERVICES["redis"]["image"] == "redis:7"
    for name in APP_SERVICES:
        dockerfile = "Dockerfile.cuda" if name == "worker-gpu" else "Dockerfile"
        assert SERVICES[name]["build"] == {"context": ".", "dockerfile": dockerfile}, name
    assert set(COMPOSE["volumes"]) == {"postgres", "redis", "media", "models_store"}


def test_its_commands_run_modules_that_exist():
    assert command("web") == ["python", "-m", "rnnservice.server"]
    assert command("migrate") == ["python", "manage.py", "migrate", "--noinput"]
    assert (ROOT / "manage.py").is_file()
    cpu, gpu, beat = command("worker-cpu"), command("worker-gpu"), command("beat")
    for celery in (cpu, gpu, beat):
        assert celery[:3] == ["celery", "-A", "rnnservice.celery"]
    assert (cpu[3], cpu[cpu.index("-Q") + 1]) == ("worker", "default")
    assert (gpu[3], gpu[gpu.index("-Q") + 1], gpu[gpu.index("--concurrency") + 1]) == ("worker", "training", "1")
    assert beat[3] == "beat"
    for module in ("rnnservice.server", "rnnservice.rsgi", "rnnservice.celery"):
        assert importlib.util.find_spec(module) is not None, module


def test_it_sets_only_variables_the_code_reads_and_the_ones_production_needs():
    settings = read_names(ROOT / "rnnservice" / "settings.py")
    assert "dj_database_url.config(" in (ROOT / "rnnservice" / "settings.py").read_text()   # reads DATABASE_URL
    settings.add("DATABASE_URL")
    server = read_names(ROOT / "rnnservice" / "server.py")
    assert {"WEB_HOST", "WEB_WORKERS", "WEB_THREADS", "TORCH_THREADS", "WEB_BODY_TIMEOUT"} <= server
    required = {"DATABASE_URL", "CELERY_BROKER_URL", "DJANGO_SECRET_KEY", "DJANGO_ALLOWED_HOSTS", "MEDIA_ROOT",
                "MODELS_STORE"}
    for name in APP_SERVICES:
        environment = SERVICES[name]["environment"]
        assert required <= set(environment), name
        unknown = set(environment) - settings - (server if name == "web" else set())
        assert not unknown, f"{name} sets {unknown}, which nothing reads"
        assert resolved(environment["DJANGO_DEBUG"]) == "false"
        assert environment["DJANGO_SECRET_KEY"].startswith("${DJANGO_SECRET_KEY:?")      # no default secret
        assert ":${POSTGRES_PASSWORD:?" in environment["DATABASE_URL"]                  # nor a default password
    assert {"WEB_WORKERS", "WEB_THREADS"} <= set(SERVICES["web"]["environment"])
    assert SERVICES["web"]["environment"]["WEB_HOST"] == "0.0.0.0"          # reachable from outside its container
    assert resolved(SERVICES["worker-gpu"]["environment"]["RNNSERVICE_DEVICE"]) == "cuda"


def test_the_database_and_broker_urls_name_the_postgres_and_redis_services():
    postgres = SERVICES["postgres"]["environment"]
    assert postgres["POSTGRES_PASSWORD"].startswith("${POSTGRES_PASSWORD:?")
    for name in APP_SERVICES:
        database = urlsplit(resolved(SERVICES[name]["environment"]["DATABASE_URL"]))
        assert (database.scheme, database.hostname, database.port) == ("postgres", "postgres", 5432)
        assert (database.username, database.password, database.path) == (
            postgres["POSTGRES_USER"], resolved(postgres["POSTGRES_PASSWORD"]), "/" + postgres["POSTGRES_DB"])
        broker = urlsplit(resolved(SERVICES[name]["environment"]["CELERY_BROKER_URL"]))
        assert (broker.scheme, broker.hostname, broker.port) == ("redis", "redis", 6379)
        # Request rates: every web process counts in the same Redis (rnnservice/throttling.py).
        cache = urlsplit(resolved(SERVICES[name]["environment"]["CACHE_URL"]))
        assert (cache.scheme, cache.hostname, cache.port) == ("redis", "redis", 6379)


@pytest.mark.parametrize("name", APP_SERVICES)
def test_the_volumes_hold_the_folders_the_settings_resolve(name, monkeypatch, tmp_path):
    environment = {key: resolved(value) for key, value in SERVICES[name]["environment"].items()}
    for key, value in environment.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("RNNSERVICE_HOME", str(tmp_path / "home"))      # the settings make this folder: not here
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path / "prometheus"))   # and this one
    settings = runpy.run_path(str(ROOT / "rnnservice" / "settings.py"))

    mounts = {}
    for volume in SERVICES[name]["volumes"]:
        source, target = volume.split(":")[:2]
        assert source in COMPOSE["volumes"], f"{name}: {volume} is not a named volume"
        mounts[target] = source
    assert mounts.get(str(settings["MEDIA_ROOT"])) == "media"
    assert mounts.get(str(settings["MODELS_STORE"])) == "models_store"
    assert settings["DATABASES"]["default"]["ENGINE"] == "django.db.backends.postgresql"
    assert settings["CELERY_BROKER_URL"].startswith("redis://")


def test_services_start_once_what_they_need_is_healthy():
    healthy, migrated = {"condition": "service_healthy"}, {"condition": "service_completed_successfully"}
    for name in RUNNING:
        assert SERVICES[name]["depends_on"] == {"postgres": healthy, "redis": healthy, "migrate": migrated}, name
    assert SERVICES["migrate"]["depends_on"] == {"postgres": healthy}
    assert SERVICES["migrate"]["restart"] == "no"


def test_it_checks_the_health_of_the_database_the_broker_and_the_web_server():
    assert "pg_isready" in SERVICES["postgres"]["healthcheck"]["test"]
    assert SERVICES["redis"]["healthcheck"]["test"][-2:] == ["redis-cli", "ping"]
    web = SERVICES["web"]
    probe = " ".join(web["healthcheck"]["test"])
    port = runpy.run_path(str(ROOT / "rnnservice" / "server.py"))["server_settings"]().port
    assert f"http://127.0.0.1:{port}/healthz" in probe
    assert resolved(web["ports"][0]).endswith(f":{port}")
    # The probe's Host header must be allowed whatever DJANGO_ALLOWED_HOSTS the deployment sets.
    assert resolved(web["environment"]["DJANGO_ALLOWED_HOSTS"]).split(",")[:2] == ["localhost", "127.0.0.1"]


def test_the_gpu_worker_reserves_one_nvidia_gpu():
    devices = SERVICES["worker-gpu"]["deploy"]["resources"]["reservations"]["devices"]
    assert devices == [{"driver": "nvidia", "count": 1, "capabilities": ["gpu"]}]
    assert "deploy" not in SERVICES["worker-cpu"]


@pytest.mark.parametrize("dockerfile", ["Dockerfile", "Dockerfile.cuda"])
def test_the_images_install_the_pinned_requirements_and_do_not_run_as_root(dockerfile):
    text = (ROOT / dockerfile).read_text()
    assert "COPY requirements.txt" in text and "pip install -r requirements.txt" in text
    torch = re.search(r"^torch==\S+", (ROOT / "requirements.txt").read_text(), re.MULTILINE).group()
    assert f" {torch}" in text                       # the CPU or CUDA build of the version pinned
    users = re.findall(r"^USER (\S+)", text, re.MULTILINE)
    assert users and users[-1] not in ("root", "0")
    environment = dict(re.findall(r"(MEDIA_ROOT|MODELS_STORE)=(\S+)", text))
    assert environment == {"MEDIA_ROOT": "/var/lib/rnnservice/media",
                           "MODELS_STORE": "/var/lib/rnnservice/models_store"}
    # The named volumes start with the folder's owner in the image: the folders must exist there, chowned.
    assert "mkdir -p /var/lib/rnnservice/media /var/lib/rnnservice/models_store" in text
    assert "chown -R" in text


def test_the_cpu_image_is_python_slim_with_its_static_files_collected():
    text = (ROOT / "Dockerfile").read_text()
    assert text.count("\nFROM ") + text.startswith("FROM ") == 1 and "FROM python:3.11-slim" in text
    assert "manage.py collectstatic --noinput" in text
    assert (ROOT / "Dockerfile.cuda").read_text().count("FROM nvidia/cuda:") == 1
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert {".venv", ".rnnservice", ".git"} <= set(ignored)



def test_metrics_have_a_fresh_folder_per_container_and_logs_are_json():
    for name in APP_SERVICES:
        environment = SERVICES[name]["environment"]
        # Pids repeat from container to container: a folder shared between containers would mix their files.
        assert resolved(environment["PROMETHEUS_MULTIPROC_DIR"]) in SERVICES[name]["tmpfs"], name
        assert resolved(environment["RNNSERVICE_LOG_FORMAT"]) == "json", name
    assert SERVICES["web"]["environment"]["METRICS_TOKEN"] == "${METRICS_TOKEN:-}"      # unset: staff only
    for name in ("worker-cpu", "worker-gpu"):
        assert int(resolved(SERVICES[name]["environment"]["METRICS_WORKER_PORT"])) > 0, name
    assert "METRICS_WORKER_PORT" not in SERVICES["web"]["environment"]


def test_the_commented_s3_lines_point_both_stores_at_one_bucket(monkeypatch, tmp_path):
    """The optional lines in x-app's environment, uncommented: names that settings.py or boto3 read, and settings
    with the artifact bucket (STORAGES["models"]) and the uploads (STORAGES["default"]) in one bucket."""
    lines = re.findall(r"^    # ((?:MODELS_STORE_URL|MEDIA_STORE_URL|AWS_\w+): .*)$",
                       (ROOT / "docker-compose.yml").read_text(), re.MULTILINE)
    environment = {key: resolved(value) for key, value in yaml.safe_load("\n".join(lines)).items()}
    boto3_reads = {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"}
    assert {"MODELS_STORE_URL", "MEDIA_STORE_URL", "AWS_S3_ENDPOINT_URL"} | boto3_reads <= set(environment)
    assert set(environment) - boto3_reads <= read_names(ROOT / "rnnservice" / "settings.py")
    for key, value in environment.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("RNNSERVICE_HOME", str(tmp_path / "home"))
    settings = runpy.run_path(str(ROOT / "rnnservice" / "settings.py"))
    models, media = settings["STORAGES"]["models"], settings["STORAGES"]["default"]
    assert models["BACKEND"] == media["BACKEND"] == "storages.backends.s3.S3Storage"
    assert models["OPTIONS"]["bucket_name"] == media["OPTIONS"]["bucket_name"]
    assert (models["OPTIONS"]["location"], media["OPTIONS"]["location"]) == ("models", "media")
    assert settings["AWS_S3_ENDPOINT_URL"] == environment["AWS_S3_ENDPOINT_URL"]
