"""`manage.py promote MODEL VERSION [--alias production]`: point an alias at a version, through alias_set."""
from __future__ import annotations

from typing import Any

from django.core.management.base import CommandParser

from apps.registry.management.base import ModelCommand
from apps.registry.models import PRODUCTION
from apps.registry.selectors import alias_get, model_get
from apps.registry.services import alias_set


class Command(ModelCommand):
    help = "Point an alias (production by default) of MODEL at its version VERSION; predictions follow it at once."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("model", metavar="MODEL")
        parser.add_argument("version", metavar="VERSION", type=int)
        parser.add_argument("--alias", default=PRODUCTION, help="the alias to set (default: production)")
        parser.add_argument("--confirm", action="store_true",
                            help="move the alias even to a version whose labels or input kind differ")

    def handle(self, *args: Any, model: str, version: int, alias: str, confirm: bool, **options: Any) -> None:
        registered = model_get(name=model)
        before = alias_get(model=registered, name=alias)
        alias_set(model=registered, alias=alias, version_number=version, confirm=confirm)
        was = f" (was version {before.version.number})" if before is not None else ""
        self.stdout.write(self.style.SUCCESS(f"{registered.name}:{alias} -> version {version}{was}"))
