"""The file-system broker's folder gone for three seconds (moved away, as a remount or a permissions change leaves
it): the Celery worker reconnects and carries on instead of exiting for good, and the message sent meanwhile is
taken once the folder is back."""
from __future__ import annotations

import time

from kombu import Connection

from apps.datasets.models import Dataset
from apps.datasets.tasks import validate_dataset
from tests.factories import DatasetFactory
from tests.processes import filesystem_broker, wait_until


def test_a_worker_survives_its_broker_folder_gone_for_three_seconds(processes, alice, tmp_path):
    home = tmp_path / "home"
    url, options = filesystem_broker(home)
    worker = processes.worker("default", "default", CELERY_BROKER_URL=url)
    processes.wait_ready("default")
    messages = home / "broker" / "messages"

    messages.rename(messages.with_name("away"))
    time.sleep(3)                                      # the worker polls every 0.5 s meanwhile
    assert worker.poll() is None, processes.log("default")
    messages.with_name("away").rename(messages)

    dataset = DatasetFactory(owner=alice, files={"train": "tiny.conllu"})
    with Connection(url, transport_options=options) as conn:
        validate_dataset.apply_async((dataset.pk,), connection=conn)
    wait_until(lambda: Dataset.objects.get(pk=dataset.pk).status == "valid", "the validation", processes)
    assert worker.poll() is None
    log = processes.log("default")
    assert "Unrecoverable error" not in log
    assert "FileNotFoundError" in log                  # said, as a connection error it recovered from
