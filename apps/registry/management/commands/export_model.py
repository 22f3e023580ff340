"""`manage.py export_model MODEL[@VERSION|:ALIAS] OUT_DIR`: copy a version's verified folder out of the store."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import CommandParser

from apps.registry.management.base import ModelCommand
from apps.registry.selectors import model_reference, version_resolve
from apps.registry.services import version_export


class Command(ModelCommand):
    help = ("Copy a model version's folder (config.json, vocab.json, weights.safetensors, manifest.json) to OUT_DIR, "
            "after checking it against the sha256 recorded at registration. Without @VERSION or :ALIAS: the "
            "production version, else the newest. The copy loads with `python -m rnnservice.ml predict OUT_DIR`.")

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("reference", metavar="MODEL[@VERSION|:ALIAS]")
        parser.add_argument("out_dir", metavar="OUT_DIR", type=Path, help="a folder that does not exist, or is empty")

    def handle(self, *args: Any, reference: str, out_dir: Path, **options: Any) -> None:
        model, number, alias = model_reference(reference=reference)
        version = version_resolve(model=model, version=number, alias=alias)
        folder = version_export(version=version, out_dir=out_dir)
        self.stdout.write(self.style.SUCCESS(f"{model.name} version {version.number} (sha256 {version.sha256}) "
                                             f"exported to {folder}"))
