"""Writes of the local start: the demo user and one small demo data set per task, made when missing and then
left as they are, so that every `make run` after the first finds what the last one left."""
from __future__ import annotations

import os
import secrets
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.core.files import File
from django.db import transaction

from apps.datasets.models import Dataset
from apps.datasets.services import dataset_create, dataset_validate
from apps.datasets.tasks import validate_dataset as validate_dataset_task

DEMO_USERNAME = "demo"
DEMO_DIR = Path(settings.BASE_DIR) / "demo"


@dataclass(frozen=True)
class DemoDataset:
    """A demo data set: its name, task and format, and its files under demo/ by file field (train, dev...)."""

    name: str
    task: str
    format: str
    files: dict[str, str]


DEMO_DATASETS = (
    DemoDataset("demo-ner", "tagging", "columns", {"train": "ner-train.txt", "dev": "ner-dev.txt"}),
    DemoDataset("demo-sentiment", "classification", "tsv",
                {"train": "sentiment-train.tsv", "dev": "sentiment-dev.tsv"}),
    DemoDataset("demo-de-en", "translation", "parallel", {"train": "de-en-train.tsv", "dev": "de-en-dev.tsv"}),
    # Numeric series (demo/make_waves.py wrote them): sine, square and sawtooth waves of 60 steps.
    DemoDataset("demo-waves", "classification", "ucr", {"train": "waves-train.tsv", "dev": "waves-dev.tsv"}),
    # An hourly load to forecast (demo/make_load.py wrote it); the dev split is its end, by time.
    DemoDataset("demo-load", "forecasting", "timeseries", {"train": "load.csv"}),
    # Made-up surnames by language (demo/make_names.py wrote them), for generation: a name in the language asked for.
    DemoDataset("demo-names", "generation", "tsv", {"train": "names-train.tsv", "dev": "names-dev.tsv"}),
)


@dataclass
class DemoSetup:
    """What demo_bootstrap found or made. `password` is None when the demo user's password is not known here:
    it was changed since it was made, and RNNSERVICE_DEMO_PASSWORD was not given."""

    user: AbstractBaseUser
    password: str | None
    created_user: bool
    datasets: list[Dataset] = field(default_factory=list)
    imported: list[str] = field(default_factory=list)       # names of the data sets this call imported


def demo_bootstrap(*, password_file: Path, password: str | None = None, queue_validation: bool = True) -> DemoSetup:
    """Make the demo user and its demo data sets where missing; change nothing that exists, but the password
    when one is given. Safe to call on every start.

    The demo user is a superuser, so that the admin shows everything. Its password is `password` when given
    (set on an existing user too), else the one kept in `password_file`, else a new random one written there,
    readable by its owner only. A data set is imported through dataset_create, as an upload would be; its
    validation is queued for a worker, and queued again for a demo data set still pending from an earlier
    start (a message may have been lost with a broker emptied since; validating twice does nothing the second
    time). With `queue_validation=False` it runs here instead.
    """
    user_model = get_user_model()
    user = user_model.objects.filter(username=DEMO_USERNAME).first()
    known = password if password is not None else _read_password(password_file)
    created_user = user is None
    if user is None:
        known = known or _write_new_password(password_file)
        user = user_model.objects.create_superuser(username=DEMO_USERNAME, email="", password=known)
    elif password is not None:
        if not user.check_password(password):
            user.set_password(password)
            user.save(update_fields=["password"])
    elif known is not None and not user.check_password(known):
        known = None                           # changed in the admin since: the file's is stale

    setup = DemoSetup(user=user, password=known, created_user=created_user)
    for demo in DEMO_DATASETS:
        dataset = Dataset.objects.filter(owner=user, name=demo.name).first()
        if dataset is None:
            dataset = _import(user, demo, queue_validation=queue_validation)
            setup.imported.append(demo.name)
        elif dataset.status == Dataset.Status.PENDING and queue_validation:
            # A lambda, not a partial, as in dataset_create: Django names the callback when it logs a failure.
            transaction.on_commit(lambda pk=dataset.pk: validate_dataset_task.delay(pk), robust=True)
        if not queue_validation:
            dataset = dataset_validate(dataset_id=dataset.pk)
        setup.datasets.append(dataset)
    return setup


def _import(user: AbstractBaseUser, demo: DemoDataset, *, queue_validation: bool) -> Dataset:
    with ExitStack() as stack:
        files = {name: File(stack.enter_context((DEMO_DIR / path).open("rb")), name=path)
                 for name, path in demo.files.items()}
        return dataset_create(owner=user, name=demo.name, task=demo.task, format=demo.format,
                              queue_validation=queue_validation, **files)


def _read_password(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8").strip() or None
    except FileNotFoundError:
        return None


def _write_new_password(path: Path) -> str:
    password = secrets.token_urlsafe(12)
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(descriptor, 0o600)              # readable by its owner only, an empty file left over included
    with os.fdopen(descriptor, "w", encoding="utf-8") as out:
        out.write(password + "\n")
    return password
