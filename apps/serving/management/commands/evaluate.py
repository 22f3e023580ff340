"""`manage.py evaluate MODEL[@VERSION|:ALIAS] FILE`: score a registered version on a labelled file; JSON metrics."""
from __future__ import annotations

from typing import Any

from django.core.management.base import CommandParser

from apps.registry.management.base import ModelCommand
from apps.registry.selectors import model_reference, version_resolve
from apps.serving.services import evaluate_file
from rnnservice.ml.formats import FORMATS, command_line_path


class Command(ModelCommand):
    help = ("Score a registered model version on FILE (translation: SOURCE,TARGET or a TSV) and print a JSON line "
            "of metrics last: accuracy, macro_f1 (+ entity_f1 for BIO tags); translation bleu, chrf; generation "
            "bits_per_char (character models) and perplexity, of the texts in FILE. A label the "
            "model never saw is an error at its line. Without @VERSION or :ALIAS: the production version, else "
            "the newest.")

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("reference", metavar="MODEL[@VERSION|:ALIAS]")
        parser.add_argument("file", metavar="FILE", help="a data file; translation: SOURCE,TARGET or a TSV")
        parser.add_argument("--format", choices=FORMATS, help="guessed from the file when left out")
        parser.add_argument("--beam-size", type=int, help="translation: beam size (default 5)")

    def handle(self, *args: Any, reference: str, file: str, format: str | None, beam_size: int | None,
               **options: Any) -> None:
        model, version, alias = model_reference(reference=reference)
        chosen = version_resolve(model=model, version=version, alias=alias)     # as the predict command chooses
        result = evaluate_file(chosen=chosen, path=command_line_path(file), format=format,
                               options={"beam_size": beam_size} if beam_size is not None else {})
        self.stderr.write(f"{result['model']} version {result['version']}: {result['examples']} examples")
        self.emit({"model": result["model"], "version": result["version"], "examples": result["examples"],
                   **result["metrics"]})
