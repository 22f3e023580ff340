"""A training worker that the kernel's OOM killer kills (SIGKILL, and the machine's count of OOM kills rises; a
file stands in for /proc/vmstat) is restarted: its job fails once, naming the kill and the launch's estimate, and is
not sent to the worker to die again; the worker trains the next job."""
from __future__ import annotations

import signal

from kombu import Connection

from apps.training.models import TrainingJob
from apps.training.services import job_launch
from apps.training.tasks import train_model
from tests.processes import filesystem_broker, wait_until
from tests.training.conftest import TINY_ARCHITECTURE, tiny_launch, valid_dataset
from tests.training.test_worker import synthetic_dataset


def test_a_job_whose_worker_the_oom_killer_killed_fails_once_and_the_worker_trains_on(processes, alice, tmp_path):
    vmstat = tmp_path / "vmstat"
    vmstat.write_text("oom_kill 3\n")
    url, options = filesystem_broker(tmp_path / "home")
    environment = {"CELERY_BROKER_URL": url, "WORKER_OOM_KILL_COUNTER": f"{vmstat}:oom_kill",
                   "TRAINING_HEARTBEAT_SECONDS": "1", "TRAINING_STALE_SECONDS": "3"}
    processes.worker("trainer", "training", **environment)
    big = job_launch(owner=alice, dataset=synthetic_dataset(alice, tmp_path, sentences=1000), model_name="big",
                     queue=False, architecture={**TINY_ARCHITECTURE, "char_dim": 0},
                     training={"epochs": 200, "batch_size": 16, "patience": 1000})
    processes.wait_ready("trainer")
    with Connection(url, transport_options=options) as conn:
        train_model.apply_async((big.pk,), connection=conn)
    wait_until(lambda: TrainingJob.objects.get(pk=big.pk).epochs, "the first epoch", processes)

    vmstat.write_text("oom_kill 4\n")                 # what the kernel does as it kills the worker
    processes.stop("trainer", signal.SIGKILL)
    processes.worker("trainer", "training", **environment)      # restarted (docker's restart policy, make run)

    wait_until(lambda: TrainingJob.objects.get(pk=big.pk).status == "failed", "the killed job to fail", processes)
    big.refresh_from_db()
    assert big.attempts == 1, f"{big.log_tail}\n{processes.logs()}"
    assert big.error.startswith("OutOfMemory: its worker was killed: the kernel's OOM killer killed 1 process(es)")
    assert "(oom_kill in " in big.error and "went from 3 to 4); the launch estimated " in big.error
    tiny = job_launch(owner=alice, dataset=valid_dataset(alice, name="tiny ud"), model_name="tiny", queue=False,
                      **tiny_launch())
    with Connection(url, transport_options=options) as conn:
        train_model.apply_async((tiny.pk,), connection=conn)
    wait_until(lambda: TrainingJob.objects.get(pk=tiny.pk).status == "succeeded", "the next job", processes)
    assert TrainingJob.objects.get(pk=big.pk).attempts == 1                    # never tried again
