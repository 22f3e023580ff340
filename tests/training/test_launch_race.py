"""A dataset deleted while a job is launched on it, in two transactions at once on two connections (threads): the
later one gets a 409 (Conflict, ProtectedError), whichever it is, and no job points at a deleted dataset."""
from __future__ import annotations

import threading
from collections.abc import Callable

import pytest
from django.db import connection, transaction
from django.db.models import ProtectedError

from apps.datasets.models import Dataset
from apps.datasets.services import dataset_delete
from apps.training.models import TrainingJob
from apps.training.services import job_launch
from rnnservice.errors import Conflict
from tests.training.conftest import tiny_launch, valid_dataset


def hold(work: Callable[[], object], done: threading.Event, release: threading.Event) -> threading.Thread:
    """A thread that does `work` in a transaction, says so, and commits only once released."""
    def run() -> None:
        try:
            with transaction.atomic():
                work()
                done.set()
                release.wait(30)
        finally:
            connection.close()
    thread = threading.Thread(target=run)
    thread.start()
    assert done.wait(30)
    return thread


def then(work: Callable[[], object]) -> tuple[threading.Thread, dict]:
    """A thread that does `work` (waiting for the other's locks) and keeps what it raised."""
    outcome: dict = {}

    def run() -> None:
        try:
            outcome["result"] = work()
        except Exception as exc:
            outcome["error"] = exc
        finally:
            connection.close()
    thread = threading.Thread(target=run)
    thread.start()
    return thread, outcome


@pytest.mark.django_db(transaction=True)
def test_a_launch_on_a_dataset_being_deleted_is_a_409(alice):
    data = valid_dataset(alice, name="tiny ud")
    stale = Dataset.objects.get(pk=data.pk)            # what the launch's request read before the delete
    release = threading.Event()
    deleting = hold(lambda: dataset_delete(dataset=data), threading.Event(), release)
    launching, outcome = then(lambda: job_launch(owner=alice, dataset=stale, model_name="racing", **tiny_launch()))
    release.set()
    deleting.join()
    launching.join()
    assert isinstance(outcome.get("error"), Conflict), outcome
    assert outcome["error"].status == 409 and outcome["error"].extra == {"field": "dataset"}
    assert not Dataset.objects.exists() and not TrainingJob.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_a_delete_of_a_dataset_a_job_is_being_launched_on_is_a_409(alice):
    data = valid_dataset(alice, name="tiny ud")
    release = threading.Event()
    launching = hold(lambda: job_launch(owner=alice, dataset=data, model_name="racing", **tiny_launch()),
                     threading.Event(), release)
    deleting, outcome = then(lambda: dataset_delete(dataset=Dataset.objects.get(pk=data.pk)))
    release.set()
    launching.join()
    deleting.join()
    assert isinstance(outcome.get("error"), ProtectedError), outcome        # the API's 409, naming the job
    assert TrainingJob.objects.get().dataset_id == data.pk
