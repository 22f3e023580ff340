"""The project's own app config: loads the Celery app in every Django process (web, commands, tests)."""
from __future__ import annotations

from django.apps import AppConfig


class RnnserviceConfig(AppConfig):
    name = "rnnservice"
    verbose_name = "rnnservice"

    def ready(self) -> None:
        # Loading the app here makes it the current app, so @shared_task.delay() sends to the configured
        # broker and not to Celery's default amqp://localhost.
        from rnnservice.celery import app  # noqa: F401
