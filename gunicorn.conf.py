"""gunicorn's settings for `gunicorn rnnservice.wsgi` (it reads this file from the working folder), from the
environment: GUNICORN_BIND, GUNICORN_WORKERS, GUNICORN_THREADS, GUNICORN_TIMEOUT."""
import os

bind = os.environ.get("GUNICORN_BIND", "0.0.0.0:8000")
# Each worker process keeps its own cache of loaded models (SERVING_CACHE_SIZE), so memory grows with workers;
# threads share it, and torch lets go of the GIL while it computes, so threads serve concurrent predictions.
workers = int(os.environ.get("GUNICORN_WORKERS", "2"))
threads = int(os.environ.get("GUNICORN_THREADS", "4"))
# Evaluation runs inside the request (up to SERVING_MAX_EVALUATE_EXAMPLES examples): give it time.
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "120"))
graceful_timeout = 30
accesslog = "-"
# Heartbeat files on a RAM disk, not on a container's overlay file system, where a slow write reads as a hung worker.
worker_tmp_dir = "/dev/shm" if os.path.isdir("/dev/shm") else None
