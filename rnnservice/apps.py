"""The project's own app config: loads the Celery app in every Django process (web, commands, tests), and ends a
request's log context when the request is finished."""
from __future__ import annotations

from django.apps import AppConfig


class RnnserviceConfig(AppConfig):
    name = "rnnservice"
    verbose_name = "rnnservice"

    def ready(self) -> None:
        from django.conf import settings
        from django.core.signals import request_finished

        # Loading the app here makes it the current app, so @shared_task.delay() sends to the configured
        # broker and not to Celery's default amqp://localhost.
        from rnnservice.celery import app  # noqa: F401
        from rnnservice.logs import request_context_clear

        # Several processes on one box (web workers, Celery workers) must not each compute with every core.
        if settings.TORCH_THREADS:
            import torch
            torch.set_num_threads(settings.TORCH_THREADS)

        # A request's log lines carry its id until it is finished (rnnservice/logs.py).
        request_finished.connect(request_context_clear, dispatch_uid="rnnservice.logs.request_context_clear")
