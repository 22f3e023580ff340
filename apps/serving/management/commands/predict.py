"""`manage.py predict MODEL[@VERSION|:ALIAS] TEXT...`: one JSON line per input, through the serving service."""
from __future__ import annotations

from typing import Any

from django.core.management.base import CommandParser

from apps.registry.management.base import ModelCommand
from apps.registry.selectors import model_reference, version_resolve
from apps.serving.services import predict


class Command(ModelCommand):
    help = ("Predict with a registered model: one JSON line per TEXT, shaped as the REST API's outputs and naming "
            "the model and version. Without @VERSION or :ALIAS: the production version, else the newest. The "
            "serving limits (SERVING_MAX_ITEMS, ...) apply.")

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("reference", metavar="MODEL[@VERSION|:ALIAS]")
        parser.add_argument("texts", metavar="TEXT", nargs="+")
        parser.add_argument("--beam-size", type=int, help="translation: beam size (default 5)")
        parser.add_argument("--n-best", type=int, help="translation: hypotheses per input")
        parser.add_argument("--max-length", type=int, help="translation: output tokens at most")

    def handle(self, *args: Any, reference: str, texts: list[str], **options: Any) -> None:
        model, version, alias = model_reference(reference=reference)
        decode = {name: options[name] for name in ("beam_size", "n_best", "max_length") if options[name] is not None}
        chosen = version_resolve(model=model, version=version, alias=alias)
        answer = predict(chosen=chosen, inputs=texts, options=decode)
        for output in answer["outputs"]:
            self.emit({"model": answer["model"], "version": answer["version"], **output})
