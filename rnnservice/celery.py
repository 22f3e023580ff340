"""The Celery app: configured from Django's settings (the CELERY_* names), tasks found in each app's tasks.py; the
worker's logs and metrics wired to rnnservice/logs.py and rnnservice/prometheus.py."""
from __future__ import annotations

import logging.config
import os
import resource
from typing import Any

from celery import Celery, signals

from rnnservice import logs, prometheus

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "rnnservice.settings")

app = Celery("rnnservice")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

# A task's log lines carry its task id and the ids it was given (job_id, dataset_id).
signals.task_prerun.connect(logs.task_context_enter)
signals.task_postrun.connect(logs.task_context_exit)


@signals.setup_logging.connect
def use_django_logging(**kwargs: Any) -> None:
    """Workers log through settings.LOGGING, as the web processes do (text or JSON), not Celery's own format."""
    from django.conf import settings

    logging.config.dictConfig(settings.LOGGING)


@signals.worker_init.connect
def reset_worker_metrics(**kwargs: Any) -> None:
    """In the worker's main process, before its pool starts: a fresh multiprocess folder."""
    prometheus.clear_multiprocess_dir()


@signals.worker_init.connect
def limit_worker_memory(**kwargs: Any) -> None:
    """WORKER_MAX_MEMORY_BYTES as the process's address-space limit (RLIMIT_AS; a prefork pool's processes inherit
    it): past it an allocation fails, the job fails with "out of memory", and the worker takes the next one. The
    kernel's OOM killer would instead kill the worker, and a job sent again would kill the next one too."""
    from django.conf import settings

    if settings.WORKER_MAX_MEMORY_BYTES:
        _, hard = resource.getrlimit(resource.RLIMIT_AS)
        limit = settings.WORKER_MAX_MEMORY_BYTES if hard == resource.RLIM_INFINITY else min(
            hard, settings.WORKER_MAX_MEMORY_BYTES)
        resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
        logging.getLogger(__name__).info("worker address space limited to %s bytes (WORKER_MAX_MEMORY_BYTES)",
                                         f"{limit:,}")


@signals.worker_ready.connect
def serve_worker_metrics(**kwargs: Any) -> None:
    from django.conf import settings

    if settings.METRICS_WORKER_PORT:
        prometheus.serve_worker_metrics(settings.METRICS_WORKER_PORT)


@signals.worker_process_shutdown.connect
def forget_pool_process(pid: int | None = None, **kwargs: Any) -> None:
    prometheus.mark_process_dead(pid or os.getpid())
