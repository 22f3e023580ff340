"""Two training workers on one broker train two jobs at once, each in its own files: its checkpoint folder and its
version folder hold its own job's model, written by its own worker, and nothing else is left in the store."""
from __future__ import annotations

import json
import re

import pytest
from kombu import Connection

from apps.registry.models import ModelVersion
from apps.training.checkpoints import checkpoint_dir
from apps.training.models import TrainingJob
from apps.training.services import job_launch
from apps.training.tasks import train_model
from rnnservice.ml.artifacts import sha256_file
from tests.processes import filesystem_broker, wait_until
from tests.training.conftest import TINY_ARCHITECTURE
from tests.training.test_worker import synthetic_dataset

FINISHED = ("succeeded", "failed", "cancelled")


@pytest.mark.parametrize("kind", ["filesystem", "redis"])
def test_it_trains_two_jobs_at_once_on_two_workers_each_in_its_own_files(processes, request, alice, models_store,
                                                                          tmp_path, kind):
    if kind == "redis":
        url, options = request.getfixturevalue("redis_server").url, {}
    else:
        url, options = filesystem_broker(tmp_path / "home")
    for name in ("one", "two"):
        processes.worker(name, "training", CELERY_BROKER_URL=url)
    data = synthetic_dataset(alice, tmp_path, sentences=600)
    # Two models told apart by their size, so that each file can be traced to its job.
    hidden = {"one": 16, "two": 24}
    jobs = {name: job_launch(owner=alice, dataset=data, model_name=f"model-{name}", queue=False,
                             architecture={**TINY_ARCHITECTURE, "char_dim": 0, "hidden_dim": size},
                             training={"epochs": 8, "batch_size": 16, "patience": 100})
            for name, size in hidden.items()}
    processes.wait_ready("one", "two")
    with Connection(url, transport_options=options) as conn:
        for job in jobs.values():
            train_model.apply_async((job.pk,), connection=conn)

    # Both running at the same moment, on different workers, each with a checkpoint of its own model.
    def both_checkpointed() -> bool:
        rows = TrainingJob.objects.filter(pk__in=[job.pk for job in jobs.values()], status="running")
        return rows.exclude(epochs=[]).count() == 2 and all(
            (checkpoint_dir(job) / "run.json").is_file() for job in jobs.values())
    wait_until(both_checkpointed, "both jobs training at once", processes)
    for name, job in jobs.items():
        run = json.loads((checkpoint_dir(job) / "run.json").read_text())
        assert run["config"]["architecture"]["hidden_dim"] == hidden[name]

    wait_until(lambda: TrainingJob.objects.filter(pk__in=[job.pk for job in jobs.values()],
                                                  status__in=FINISHED).count() == 2, "both jobs", processes)
    workers = set()
    for name, job in jobs.items():
        job.refresh_from_db()
        assert (job.status, job.attempts) == ("succeeded", 1), f"{job.log_tail}\n{processes.logs()}"
        workers.add(job.worker.split("@")[0])
        version = ModelVersion.objects.get(job=job)
        assert (version.model.name, version.number) == (f"model-{name}", 1)
        config = json.loads((version.folder / "config.json").read_text())
        assert config["config"]["architecture"]["hidden_dim"] == hidden[name]
        assert sha256_file(version.folder / "manifest.json") == version.sha256
        # The worker that ran it is the only one that mentions it; the other never touched it.
        other = next(worker for worker in hidden if f"{worker}@" not in job.worker)
        assert f"training job {job.pk}:" in processes.log(job.worker.split("@")[0])
        assert not re.search(rf"training job {job.pk}\b", processes.log(other))
    assert workers == {"one", "two"}

    # Nothing else was written to the store: no stray checkpoint, temporary or set-aside folder.
    written = sorted(str(path.relative_to(models_store)) for path in models_store.rglob("*"))
    assert written == ["checkpoints", *[f"model-{name}{part}" for name in hidden
                                        for part in ("", "/1", "/1/config.json", "/1/manifest.json",
                                                     "/1/model.onnx", "/1/vocab.json", "/1/weights.safetensors")]]
