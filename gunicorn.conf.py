"""gunicorn's settings for `gunicorn rnnservice.wsgi` (it reads this file from the working folder), from the
environment: GUNICORN_BIND, GUNICORN_WORKERS, GUNICORN_THREADS, GUNICORN_TIMEOUT, and TORCH_THREADS for the
threads torch computes with in each worker. The defaults suit the box: see `_defaults`. RNNSERVICE_LOG_FORMAT=json
makes gunicorn's own lines JSON; PROMETHEUS_MULTIPROC_DIR is emptied at start (rnnservice/prometheus.py)."""
import os
import shutil

MAX_CPU_WORKERS = 8


def _env_int(name: str, default: int) -> int:
    """An int from the environment; unset or empty (as docker-compose passes `${NAME:-}`) keeps the default."""
    return int(os.environ.get(name) or default)


def _gpu_box() -> bool:
    """Will models be served on a GPU? Decided without importing torch: the master process must not start CUDA
    (a CUDA context does not survive fork)."""
    device = os.environ.get("RNNSERVICE_DEVICE", "auto")
    return device.startswith("cuda") or (device == "auto" and shutil.which("nvidia-smi") is not None)


def _defaults() -> tuple[int, int]:
    """(workers, torch threads per worker). A GPU box: one worker, so that every request for a model reaches
    the one process that batches them on the GPU (each worker would hold its own copy of every model in GPU
    memory too). A CPU box: a worker per core, up to MAX_CPU_WORKERS, and the cores left over as torch threads
    (at least one each). A worker's Python (HTTP, Django, DRF, JSON) runs under one GIL and is what limits a
    worker, not its forward passes, which dynamic batching (SERVING_BATCHING) shares: on 2 cores, 2 workers of
    1 torch thread served 76% more requests than 1 worker (bench/RESULTS.md). Each worker holds its own cache
    of models (SERVING_CACHE_SIZE), hence the cap; GUNICORN_WORKERS sets fewer on a box short of memory."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    workers = 1 if _gpu_box() else min(cores, MAX_CPU_WORKERS)
    workers = _env_int("GUNICORN_WORKERS", workers)
    return workers, max(1, cores // workers)


workers, _torch_threads = _defaults()
torch_threads = _env_int("TORCH_THREADS", _torch_threads)

bind = os.environ.get("GUNICORN_BIND", "0.0.0.0:8000")
# Each worker process keeps its own cache of loaded models (SERVING_CACHE_SIZE), so memory grows with workers;
# threads share it. A request thread mostly waits for its model's batcher, so a worker takes many of them; more
# than 16 only add GIL contention. Each thread keeps a database connection (DATABASE_CONN_MAX_AGE), so with more
# workers each gets fewer threads: at most 32 in all (PostgreSQL's default max_connections is 100).
threads = _env_int("GUNICORN_THREADS", max(4, min(16, 32 // workers)))
# Evaluation runs inside the request (up to SERVING_MAX_EVALUATE_EXAMPLES examples): give it time.
timeout = _env_int("GUNICORN_TIMEOUT", 120)
graceful_timeout = 30
accesslog = "-"
# The combined format plus the response's X-Request-ID (rnnservice/logs.py), to find a request's other lines.
access_log_format = '%(h)s %(l)s %(u)s %(t)s "%(r)s" %(s)s %(b)s "%(f)s" "%(a)s" %({x-request-id}o)s'
if os.environ.get("RNNSERVICE_LOG_FORMAT", "text").strip().lower() == "json":
    # gunicorn's own lines as JSON objects too (python-json-logger), an access line as the message.
    logconfig_dict = {
        "formatters": {"json": {"()": "pythonjsonlogger.json.JsonFormatter", "timestamp": True,
                                "fmt": "%(levelname)s %(name)s %(message)s"}},
        "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stdout"}},
        "loggers": {name: {"level": "INFO", "handlers": ["console"], "propagate": False}
                    for name in ("gunicorn.error", "gunicorn.access")},
    }
# Heartbeat files on a RAM disk, not on a container's overlay file system, where a slow write reads as a hung worker.
worker_tmp_dir = "/dev/shm" if os.path.isdir("/dev/shm") else None


def post_fork(server, worker):
    # Each worker computes with its share of the cores (torch's default is all of them, in every process).
    import torch
    torch.set_num_threads(torch_threads)
    torch.set_num_interop_threads(1)            # inference runs one graph at a time: no inter-op pool needed


def on_starting(server):
    # Prometheus's multiprocess mode (PROMETHEUS_MULTIPROC_DIR): the workers of this run start from an empty folder.
    from rnnservice.prometheus import clear_multiprocess_dir
    clear_multiprocess_dir()


def child_exit(server, worker):
    # A dead worker's live gauges must not be added to the living ones' (prometheus_client's multiprocess mode).
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess
        multiprocess.mark_process_dead(worker.pid)
