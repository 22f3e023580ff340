"""The base of the registry's and serving's management commands: service errors become a CommandError."""
from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.http import Http404

from rnnservice.errors import ServiceError
from rnnservice.ml.errors import MLError


class ModelCommand(BaseCommand):
    """A command that calls registry or serving services. What they refuse (ServiceError, including limits and
    an artifact that fails its check; Http404 for a model, version or alias that is not there; MLError for a bad
    file or option) is printed as one line on stderr with exit status 1, as every Django command does."""

    def execute(self, *args: Any, **options: Any) -> Any:
        try:
            return super().execute(*args, **options)
        except ServiceError as exc:
            raise CommandError(exc.message) from exc
        except (Http404, MLError) as exc:
            raise CommandError(str(exc)) from exc

    def emit(self, row: dict[str, Any]) -> None:
        """One JSON line on stdout."""
        self.stdout.write(json.dumps(row, ensure_ascii=False))
