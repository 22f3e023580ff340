"""The production web server: granian (a Rust HTTP server) running the Django app, its settings from the environment.

    python -m rnnservice.server          # make serve; docker-compose.yml's web service; the Dockerfile's CMD

Settings (unset or empty, as docker-compose passes `${NAME:-}`, keeps the default):
- WEB_HOST (127.0.0.1: only this machine; 0.0.0.0 in a container) and WEB_PORT (8000);
- WEB_WORKERS: worker processes. A GPU box: 1, so that every request for a model reaches the one process that
  batches them on the GPU. A CPU box: a worker per core, up to MAX_CPU_WORKERS; each worker's Python runs under
  one GIL, which is what limits it, and each keeps its own models (SERVING_CACHE_SIZE), hence the cap;
- WEB_THREADS: threads per worker that run Django (16, fewer past 2 workers: at most 32 in all, as each keeps a
  database connection and PostgreSQL's default max_connections is 100). A request thread mostly waits for its
  model's batcher, so a worker takes many;
- TORCH_THREADS: the threads torch computes with in each worker (the cores left over, at least 1);
- WEB_HEADER_TIMEOUT (5 s) and WEB_BODY_TIMEOUT (10 s): a client that has not sent its headers, or its whole body,
  in that time is answered 408 and dropped (rnnservice/rsgi.py), so that slow or idle clients hold no thread.

The app runs under granian's RSGI interface (rnnservice/rsgi.py): granian parses HTTP in Rust, the body is read on
the event loop under WEB_BODY_TIMEOUT, and only then does Django's WSGI handler run, on one of WEB_THREADS threads.
Chosen by measurement against gunicorn and granian's WSGI and ASGI interfaces (bench/RESULTS.md, Serving: the
server): Django's ASGI handler costs several times more per request than its WSGI one, and under plain WSGI a
slow body holds a thread that granian cannot take back.
"""
from __future__ import annotations

import os
import shutil
from dataclasses import dataclass

MAX_CPU_WORKERS = 8
MAX_THREADS = 32                  # request threads of one web machine, each with a database connection
BACKPRESSURE = 256
GRACEFUL_SECONDS = 30             # a stopping worker finishes the requests in hand, then is killed
TARGET = "rnnservice.rsgi:application"


def env_int(name: str, default: int, *, minimum: int = 1) -> int:
    """An int from the environment; unset or empty keeps the default. A value below `minimum` or not a number is
    refused naming the variable."""
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SystemExit(f"{name}={raw!r}: must be a whole number") from None
    if value < minimum:
        raise SystemExit(f"{name}={value}: must be {minimum} or more")
    return value


def _cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def _gpu_box() -> bool:
    """Will models be served on a GPU? Decided without importing torch: the server's main process forks its
    workers, and a CUDA context does not survive a fork."""
    device = os.environ.get("RNNSERVICE_DEVICE", "auto")
    return device.startswith("cuda") or (device == "auto" and shutil.which("nvidia-smi") is not None)


@dataclass(frozen=True)
class ServerSettings:
    host: str
    port: int
    workers: int
    threads: int
    torch_threads: int
    header_timeout: int           # seconds
    body_timeout: int             # seconds


def server_settings() -> ServerSettings:
    """The settings of this box and environment (see the module's docstring)."""
    cores = _cores()
    workers = env_int("WEB_WORKERS", 1 if _gpu_box() else min(cores, MAX_CPU_WORKERS))
    return ServerSettings(
        host=os.environ.get("WEB_HOST", "").strip() or "127.0.0.1",
        port=env_int("WEB_PORT", 8000),
        workers=workers,
        threads=env_int("WEB_THREADS", max(4, min(16, MAX_THREADS // workers))),
        torch_threads=env_int("TORCH_THREADS", max(1, cores // workers)),
        header_timeout=env_int("WEB_HEADER_TIMEOUT", 5),
        body_timeout=env_int("WEB_BODY_TIMEOUT", 10),
    )


def granian_server(config: ServerSettings):
    """granian's server for `config`, not started."""
    from granian import Granian
    from granian.constants import Interfaces
    from granian.http import HTTP1Settings

    return Granian(
        TARGET, address=config.host, port=config.port, interface=Interfaces.RSGI, workers=config.workers,
        # Requests in hand per worker, each a coroutine until its body is in (rnnservice/rsgi.py); past this
        # many, granian holds the next connections in Rust.
        backpressure=BACKPRESSURE,
        http1_settings=HTTP1Settings(header_read_timeout=config.header_timeout * 1000),
        websockets=False, log_access=True, log_dictconfig=_log_config(),
        respawn_failed_workers=True,              # a worker that dies is replaced, as gunicorn did
        workers_kill_timeout=GRACEFUL_SECONDS,
    )


def _log_config() -> dict | None:
    """granian's own lines as JSON objects under RNNSERVICE_LOG_FORMAT=json (python-json-logger); None: its text."""
    if os.environ.get("RNNSERVICE_LOG_FORMAT", "text").strip().lower() != "json":
        return None
    return {
        "version": 1, "disable_existing_loggers": False,
        "formatters": {"json": {"()": "pythonjsonlogger.json.JsonFormatter", "timestamp": True,
                                "fmt": "%(levelname)s %(name)s %(message)s"}},
        "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stdout"}},
        "loggers": {name: {"level": "INFO", "handlers": ["console"], "propagate": False}
                    for name in ("_granian", "granian.access")},
    }


def prepare(config: ServerSettings) -> None:
    """Before the workers start: the settings each worker reads as it starts (rnnservice/rsgi.py: its torch
    threads, its Django threads and the body timeout; environment variables, since the workers are processes of
    their own), and an empty PROMETHEUS_MULTIPROC_DIR, so that the last run's workers' metrics are not added to
    this run's."""
    os.environ["TORCH_THREADS"] = str(config.torch_threads)
    os.environ["WEB_BODY_TIMEOUT"] = str(config.body_timeout)
    os.environ["WEB_THREADS"] = str(config.threads)
    from rnnservice.prometheus import clear_multiprocess_dir
    clear_multiprocess_dir()


def main() -> None:
    config = server_settings()
    prepare(config)
    print(f"rnnservice: granian on http://{config.host}:{config.port}, {config.workers} workers of "
          f"{config.threads} threads and {config.torch_threads} torch threads; timeouts: headers "
          f"{config.header_timeout} s, body {config.body_timeout} s", flush=True)
    granian_server(config).serve()


if __name__ == "__main__":
    main()
