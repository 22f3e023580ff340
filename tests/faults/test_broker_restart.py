"""Redis, the broker, restarted without persistence while one job runs and another waits in its queue, and down
while a job is launched and a dataset uploaded: every job still runs, once, to one version; the dataset is
validated; a duplicate message does nothing. Real processes: redis-server, granian, a training worker, and a
default-queue worker with celery beat, which runs the stale check."""
from __future__ import annotations

from kombu import Connection

from apps.datasets.models import Dataset
from apps.registry.models import ModelVersion
from apps.training.models import TrainingJob
from apps.training.tasks import train_model
from tests.factories import DATA
from tests.processes import Http, free_port, wait_until
from tests.training.conftest import TINY_ARCHITECTURE, tiny_launch, valid_dataset
from tests.training.test_worker import synthetic_dataset

# Small values, so that lost messages are sent again within seconds; they pass training.E001.
FAST = {"TRAINING_HEARTBEAT_SECONDS": "1", "TRAINING_STALE_SECONDS": "3", "TRAINING_QUEUED_RESEND_SECONDS": "4",
        "DATASET_PENDING_RESEND_SECONDS": "4"}
FINISHED = ("succeeded", "failed", "cancelled")


def launch(http: Http, dataset: Dataset, name: str, **sections) -> dict:
    status, body, _ = http.post("/api/training-jobs/", {"dataset": dataset.pk, "model_name": name, **sections})
    assert status == 201, body
    return body


def test_it_loses_no_job_and_runs_none_twice_when_redis_restarts(processes, redis_server, alice, token, tmp_path):
    environment = {"CELERY_BROKER_URL": redis_server.url, **FAST}
    port = free_port()
    processes.web(port, **environment)
    processes.worker("trainer", "training", **environment)
    processes.worker("default", "default", "--beat", "--schedule", str(tmp_path / "beat-schedule"), **environment)
    http = Http(f"http://127.0.0.1:{port}", token)
    long_data, tiny_data = synthetic_dataset(alice, tmp_path, sentences=1000), valid_dataset(alice, name="tiny ud")
    wait_until(http.answers, "the web server", processes)
    processes.wait_ready("trainer", "default")

    # One job running, one waiting in Redis behind it (the trainer takes one message at a time).
    running = launch(http, long_data, "running", architecture={**TINY_ARCHITECTURE, "char_dim": 0},
                     training={"epochs": 10, "batch_size": 16, "patience": 100})
    waiting = launch(http, tiny_data, "waiting", **tiny_launch())
    wait_until(lambda: TrainingJob.objects.filter(pk=running["id"], status="running").exclude(epochs=[]).exists(),
               "the first job's first epoch", processes)
    assert TrainingJob.objects.get(pk=waiting["id"]).status == "queued"

    redis_server.stop()                   # the waiting job's message, and the running one's unacknowledged, are gone
    assert TrainingJob.objects.get(pk=running["id"]).status == "running", "it ended too soon: make epochs slower"

    # The broker is down: a launch and an upload are saved and answered, not refused; readiness says why.
    status, body, _ = http.get("/readyz")
    assert (status, body["failed"]) == (503, ["broker"])
    unsent = launch(http, tiny_data, "unsent", **tiny_launch())
    assert unsent["status"] == "queued"
    assert "not sent to the training queue yet: the broker cannot be reached" in unsent["log_tail"]
    status, upload, _ = http.post("/api/datasets/", {"name": "uploaded while down", "task": "tagging"},
                                  files={"train": DATA / "tiny.conllu"})
    assert (status, upload["status"]) == (201, "pending")

    redis_server.start()                  # empty, on the same port

    ids = [running["id"], waiting["id"], unsent["id"]]
    wait_until(lambda: TrainingJob.objects.filter(pk__in=ids, status__in=FINISHED).count() == 3
               and Dataset.objects.get(pk=upload["id"]).status != "pending", "every job and the upload", processes,
               deadline=180)

    jobs = {job.model_name: job for job in TrainingJob.objects.filter(pk__in=ids).select_related("version__model")}
    for name, job in jobs.items():
        assert (job.status, job.error) == ("succeeded", ""), f"{name}: {job.log_tail}\n{processes.logs()}"
        assert job.attempts == 1, f"{name} ran more than once:\n{job.log_tail}"
        assert job.log_tail.count("succeeded:") == 1
        assert (job.version.model.name, job.version.number) == (name, 1)
    assert ModelVersion.objects.count() == 3                               # one version per job, none twice
    assert "sent to the queue again: not taken since" in jobs["waiting"].log_tail     # its message was lost
    assert "sent to the queue again: never sent" in jobs["unsent"].log_tail
    assert Dataset.objects.get(pk=upload["id"]).status == "valid"
    assert wait_until(lambda: http.get("/readyz")[0] == 200, "readiness", processes)

    # A message sent again for a job that has finished (what the stale check does for one merely waiting) is
    # taken and does nothing.
    done = processes.log("trainer").count("succeeded in")
    with Connection(redis_server.url) as conn:
        train_model.apply_async((running["id"],), connection=conn)
    wait_until(lambda: processes.log("trainer").count("succeeded in") > done, "the duplicate message", processes)
    job = TrainingJob.objects.get(pk=running["id"])
    assert (job.attempts, job.finished, job.log_tail) == (1, jobs["running"].finished, jobs["running"].log_tail)
    assert ModelVersion.objects.count() == 3
