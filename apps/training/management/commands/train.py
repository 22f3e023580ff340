"""`manage.py train`: launch a training job through the same service as the API; watch it, or run it here."""
from __future__ import annotations

import json
import logging
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connection
from tqdm import tqdm

from apps.datasets.models import Dataset
from apps.training.models import TrainingJob
from apps.training.runs import job_run
from apps.training.services import job_cancel, job_launch
from rnnservice.display import significant
from rnnservice.errors import ServiceError

SECTIONS = ("tokenizer", "architecture", "training", "data")
POLL_SECONDS = 0.5


class Command(BaseCommand):
    help = ("Launch a training job on a valid dataset, given by id or by name. It is queued for a worker on the "
            "training queue; --wait then draws its progress until it ends, --sync trains here, in this process, "
            "with no broker and no worker. Exits non-zero when the job fails or is cancelled.")

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("dataset", metavar="DATASET_ID_OR_NAME")
        parser.add_argument("--model", required=True, metavar="NAME", help="the registered model to add a version to")
        parser.add_argument("--config", type=Path, metavar="FILE.json",
                            help='a JSON object with "tokenizer", "architecture", "training" and "data" sections '
                                 "(data: the dev split, forecasting's lookback, horizon and targets)")
        parser.add_argument("--epochs", type=int, metavar="N", help="training.epochs, over --config")
        parser.add_argument("--owner", metavar="USERNAME", help="who owns the job (default: the dataset's owner)")
        parser.add_argument("--wait", action="store_true", help="draw the job's progress until it ends")
        parser.add_argument("--sync", action="store_true", help="train in this process, without a broker")

    def handle(self, *args: Any, dataset: str, model: str, config: Path | None, epochs: int | None,
               owner: str | None, wait: bool, sync: bool, **options: Any) -> None:
        user = _user(owner) if owner else None
        found = _dataset(dataset, user)
        sections = _sections(config)
        if epochs is not None:
            sections["training"] = {**sections.get("training", {}), "epochs": epochs}
        try:
            job = job_launch(owner=user or found.owner, dataset=found, model_name=model, queue=not sync, **sections)
        except ServiceError as exc:
            raise CommandError(exc.message) from exc
        where = "training here, in this process" if sync else "queued for a worker on the training queue"
        self.stdout.write(f'job {job.pk}: {job.model_name} on dataset {found.pk} "{found.name}", '
                          f"{job.planned_epochs} epochs; {where}")
        if sync:
            # The service's log lines would repeat the epoch lines printed here; -v 2 shows them too.
            quiet = logging.WARNING if options["verbosity"] < 2 else logging.NOTSET
            with _log_level("apps.training", quiet):
                self.watch(job, _run_in_thread(job.pk))
        elif wait:
            self.watch(job, None)

    def watch(self, job: TrainingJob, runner: threading.Thread | None) -> None:
        """Poll the job's row, drawing a bar of epochs and printing each epoch's line, until it ends."""
        bar = tqdm(total=job.planned_epochs, unit="epoch", desc=f"job {job.pk}", file=sys.stderr, disable=None)
        shown = 0
        try:
            while True:
                try:
                    job.refresh_from_db()
                    for row in (row for row in job.epochs if row["epoch"] > shown):
                        with bar.external_write_mode():
                            self.stdout.write(_epoch_line(row, job.planned_epochs))
                        shown = row["epoch"]
                    bar.n = shown
                    bar.set_postfix_str(job.status)
                    if job.status not in TrainingJob.ACTIVE and (runner is None or not runner.is_alive()):
                        break
                    time.sleep(POLL_SECONDS)
                except KeyboardInterrupt:
                    if runner is None:
                        raise CommandError(f"stopped watching; job {job.pk} goes on on its worker",
                                           returncode=130) from None
                    if job.cancel_requested or job.status not in TrainingJob.ACTIVE:     # a second Ctrl-C
                        raise CommandError(f"left at once: job {job.pk} stays running until a worker finds it "
                                           "silent and takes it over", returncode=130) from None
                    job_cancel(job=job)
                    with bar.external_write_mode():
                        self.stderr.write("cancelling: training stops at the end of this epoch (Ctrl-C again to quit)")
        finally:
            bar.close()
        self.report(job)

    def report(self, job: TrainingJob) -> None:
        if job.status == TrainingJob.Status.SUCCEEDED:
            version = job.version
            metrics = ", ".join(f"{name} {significant(value)}"
                                for name, value in sorted((version.metrics or {}).items()))
            for line in filter(None, [*(f"warning: {w}" for w in job.warnings), job.stopped_early]):
                self.stdout.write(line)
            self.stdout.write(self.style.SUCCESS(f"job {job.pk} succeeded: {version.model.name} version "
                                                 f"{version.number}" + (f"; dev {metrics}" if metrics else "")))
        elif job.status == TrainingJob.Status.CANCELLED:
            raise CommandError(f"job {job.pk} was cancelled after {len(job.epochs)} epochs")
        else:
            raise CommandError(f"job {job.pk} failed: {job.error}")


@contextmanager
def _log_level(name: str, level: int) -> Iterator[None]:
    logger = logging.getLogger(name)
    before = logger.level
    logger.setLevel(level)
    try:
        yield
    finally:
        logger.setLevel(before)


def _run_in_thread(job_id: int) -> threading.Thread:
    """job_run on a thread of this process, so that this one can draw the progress and catch Ctrl-C."""
    def run() -> None:
        try:
            job_run(job_id=job_id)
        finally:
            connection.close()     # this thread's own connection

    thread = threading.Thread(target=run, name=f"train-job-{job_id}", daemon=True)
    thread.start()
    return thread


def _user(username: str) -> AbstractBaseUser:
    user = get_user_model().objects.filter(username=username).first()
    if user is None:
        raise CommandError(f"no user named {username!r}")
    return user


def _dataset(value: str, owner: AbstractBaseUser | None) -> Dataset:
    """A dataset by id, else by name (of `owner` when given); a name several owners use needs --owner."""
    if value.isdigit():
        found = Dataset.objects.filter(pk=int(value)).first()
        if found is None:
            raise CommandError(f"no dataset with id {value}")
        return found
    named = Dataset.objects.filter(name=value).select_related("owner").order_by("owner__username")
    if owner is not None:
        named = named.filter(owner=owner)
    datasets = list(named[:10])
    if not datasets:
        raise CommandError(f"no dataset named {value!r}" + (f" owned by {owner}" if owner else ""))
    if len(datasets) > 1:
        owners = ", ".join(str(dataset.owner) for dataset in datasets)
        raise CommandError(f"datasets of several users are named {value!r} ({owners}); give --owner or the id")
    return datasets[0]


def _sections(path: Path | None) -> dict[str, dict]:
    """The sections of a --config file; the data section's format, input and options are the dataset's."""
    if path is None:
        return {}
    try:
        given = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise CommandError(f"--config {path}: {exc.strerror}") from exc
    except ValueError as exc:
        where = f", line {exc.lineno}" if isinstance(exc, json.JSONDecodeError) else ""
        raise CommandError(f"--config {path}{where}: not JSON: {getattr(exc, 'msg', exc)}") from exc
    if not isinstance(given, dict):
        raise CommandError(f"--config {path}: must be a JSON object with sections {', '.join(SECTIONS)}")
    for name, value in given.items():
        if name not in SECTIONS:
            raise CommandError(f"--config {path}: unknown section {name!r}; the sections are {', '.join(SECTIONS)} "
                               "(task and format come from the dataset)")
        if not isinstance(value, dict):
            raise CommandError(f"--config {path}: {name} must be an object, not {type(value).__name__}")
    return given


def _epoch_line(row: dict[str, Any], planned: int) -> str:
    # Sorted: jsonb reorders the keys.
    dev = ", ".join(f"{key} {significant(row[key])}" for key in sorted(row) if key.startswith("dev_"))
    best = " (best)" if row.get("is_best") else ""
    member = f" (member {row['member']})" if row.get("member") is not None else ""     # of an ensemble
    return f"epoch {row['epoch']}/{planned}{member}: train_loss {significant(row['train_loss'])}, {dev}{best}"
