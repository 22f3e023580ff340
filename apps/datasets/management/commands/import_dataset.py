"""`manage.py import_dataset`: upload a dataset from files on this machine, through the same service as the API."""
from __future__ import annotations

from contextlib import ExitStack
from pathlib import Path
from typing import Any

from django.contrib.auth import get_user_model
from django.core.files import File
from django.core.management.base import BaseCommand, CommandError, CommandParser

from apps.datasets.models import SPLITS, Dataset
from apps.datasets.services import dataset_create, dataset_validate
from apps.datasets.statistics import PERCENTILES
from rnnservice.errors import ServiceError
from rnnservice.ml.config import TASKS
from rnnservice.ml.formats import FORMATS

LENGTH_KEYS = (*(f"p{p}" for p in PERCENTILES), "max")


class Command(BaseCommand):
    help = ("Import a dataset owned by --owner. Translation files may come as two aligned files, SOURCE,TARGET. "
            "Validation is queued for a worker on the default queue; --wait runs it here and prints the result.")

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name")
        parser.add_argument("--task", required=True, choices=TASKS)
        parser.add_argument("--train", required=True, metavar="PATH")
        parser.add_argument("--dev", metavar="PATH")
        parser.add_argument("--test", metavar="PATH")
        parser.add_argument("--format", choices=FORMATS, help="guessed from the training file when left out")
        parser.add_argument("--owner", required=True, metavar="USERNAME")
        parser.add_argument("--wait", action="store_true", help="validate now, in this process, and print the result")

    def handle(self, *args: Any, name: str, task: str, owner: str, format: str | None, wait: bool,
               **options: Any) -> None:
        user = get_user_model().objects.filter(username=owner).first()
        if user is None:
            raise CommandError(f"no user named {owner!r}")
        with ExitStack() as stack:
            files = {}
            for split in SPLITS:
                for field, path in zip((split, f"{split}_target"), _paths(options[split]), strict=False):
                    files[field] = File(stack.enter_context(path.open("rb")), name=path.name)
            try:
                dataset = dataset_create(owner=user, name=name, task=task, format=format,
                                         queue_validation=not wait, **files)
            except ServiceError as exc:
                raise CommandError(exc.message) from exc
        if not wait:
            self.stdout.write(f'dataset {dataset.pk} "{dataset.name}" created, pending: a worker on the default '
                              "queue validates it")
            return
        dataset = dataset_validate(dataset_id=dataset.pk)
        self.report(dataset)

    def report(self, dataset: Dataset) -> None:
        series = ", numeric series" if dataset.input == "values" else ""
        head = f'dataset {dataset.pk} "{dataset.name}" ({dataset.task}, {dataset.format or "format not found"}{series})'
        if dataset.status != Dataset.Status.VALID:
            line = f", line {dataset.error_line}" if dataset.error_line else ""
            raise CommandError(f"{head} is invalid: {dataset.error_file}{line}: {dataset.error}")
        self.stdout.write(self.style.SUCCESS(f"{head} is valid"))
        # In the order of SPLITS and LENGTH_KEYS, not the statistics' own: PostgreSQL's jsonb reorders keys.
        splits = dataset.statistics["splits"]
        for split in (split for split in SPLITS if split in splits):
            stats = splits[split]
            length = ", ".join(f"{key} {stats['length'][key]}" for key in LENGTH_KEYS)
            extra = _extra(stats)
            if dataset.input == "values":
                self.stdout.write(f"{split}: {stats['examples']} series of {stats['features']} features, "
                                  f"{stats['frames']} frames; length {length}{extra}")
            else:
                self.stdout.write(f"{split}: {stats['examples']} examples, {stats['tokens']} tokens; "
                                  f"length {length}{extra}")
        dev = dataset.statistics["dev_split"]
        if dev["dev"] == "split":
            self.stdout.write(f"dev: none uploaded; training splits {dev['dev_fraction']:.0%} of train off "
                              f"(seed {dev['split_seed']})")


def _paths(value: str | None) -> list[Path]:
    """[] for no value, [path], or [source, target] for two aligned files given as SOURCE,TARGET."""
    if value is None:
        return []
    parts = [value] if "," not in value or Path(value).exists() else value.split(",")
    if len(parts) > 2 or not all(part.strip() for part in parts):
        raise CommandError(f"{value!r}: give one file, or two aligned files as SOURCE,TARGET")
    paths = [Path(part.strip()) for part in parts]
    for path in paths:
        if not path.is_file():
            raise CommandError(f"no such file: {path}")
    return paths


def _extra(stats: dict) -> str:
    """What a split's statistics hold beyond sizes and lengths: its labels (classification, tagging, conditioned
    generation), its target tokens (translation) or its columns (forecasting); nothing for running text."""
    if "labels" in stats:
        return f"; {len(stats['labels'])} labels"
    if "target_tokens" in stats:
        return f"; {stats['target_tokens']} target tokens"
    if "columns" in stats:
        return f"; columns {', '.join(stats['columns'])}"
    return ""
