"""Tests for apps/training/oom.py: a job whose worker the kernel's OOM killer killed fails once, naming its estimate,
instead of being sent to the next worker to die the same way. A file stands in for /proc/vmstat."""
from __future__ import annotations

import socket

import pytest
from django.utils import timezone

from apps.training.models import TrainingJob
from apps.training.recovery import jobs_requeue_stale
from apps.training.runs import job_start
from tests.training.helpers import LONG_AGO, launch


@pytest.fixture
def vmstat(tmp_path, settings):
    """write(kills): the machine's count of OOM kills, as /proc/vmstat says it."""
    counter = tmp_path / "vmstat"
    settings.WORKER_OOM_KILL_COUNTER = f"{counter}:oom_kill"

    def write(kills: int) -> None:
        counter.write_text(f"nr_free_pages 1234\noom_kill {kills}\nnr_dirty 5\n")
    write(7)
    return write


def killed_while_running(job: TrainingJob, vmstat) -> TrainingJob:
    """Claimed on this machine, then the kernel kills a process and the job goes silent."""
    claimed = job_start(job_id=job.pk, worker="trainer@here")
    assert claimed.memory_watch == {"host": socket.gethostname(), "counter": claimed.memory_watch["counter"],
                                    "kills": 7}
    vmstat(8)
    TrainingJob.objects.filter(pk=job.pk).update(heartbeat_at=claimed.heartbeat_at - LONG_AGO)
    return claimed


def test_a_restarted_worker_fails_the_job_the_oom_killer_stopped_naming_it_and_the_estimate(alice, tagging_data,
                                                                                              vmstat, sent):
    job = killed_while_running(launch(alice, tagging_data), vmstat)
    sent.clear()

    assert jobs_requeue_stale(restarted_worker="trainer@here") == []

    job.refresh_from_db()
    assert (job.status, job.attempts, sent) == ("failed", 1, [])              # not sent to die again
    assert job.error.startswith(f"OutOfMemory: its worker was killed: the kernel's OOM killer killed 1 process(es) "
                                f"on {socket.gethostname()} while attempt 1 ran there (oom_kill in ")
    assert "went from 7 to 8); the launch estimated " in job.error and "TRAINING_MAX_MEMORY_BYTES" in job.error
    assert job.log_tail.endswith(f"failed: {job.error}")


def test_a_job_sent_again_meanwhile_fails_when_it_is_claimed_on_the_same_machine(alice, tagging_data, vmstat):
    job = killed_while_running(launch(alice, tagging_data), vmstat)
    # Beat on another machine cannot compare this machine's count: it sent the job to the queue again.
    TrainingJob.objects.filter(pk=job.pk).update(status="queued", sent_at=timezone.now())

    assert job_start(job_id=job.pk, worker="trainer@here") is None

    job.refresh_from_db()
    assert (job.status, job.attempts) == ("failed", 1) and job.error.startswith("OutOfMemory: its worker was killed")


def test_a_silent_job_is_sent_again_when_no_process_was_killed_or_it_ran_elsewhere(alice, tagging_data, vmstat,
                                                                                   sent):
    quiet = launch(alice, tagging_data, "quiet")
    job_start(job_id=quiet.pk, worker="trainer@here")
    elsewhere = killed_while_running(launch(alice, tagging_data, "elsewhere"), vmstat)
    TrainingJob.objects.filter(pk=elsewhere.pk).update(memory_watch={**elsewhere.memory_watch, "host": "other"})
    TrainingJob.objects.filter(pk=quiet.pk).update(memory_watch={**elsewhere.memory_watch, "kills": 8},
                                                   heartbeat_at=timezone.now() - LONG_AGO)
    sent.clear()

    assert sorted(jobs_requeue_stale()) == sorted([quiet.pk, elsewhere.pk])

    assert set(TrainingJob.objects.values_list("status", flat=True)) == {"queued"}


def test_it_records_nothing_when_the_counter_is_off_or_unreadable(alice, tagging_data, settings, tmp_path):
    settings.WORKER_OOM_KILL_COUNTER = ""
    assert job_start(job_id=launch(alice, tagging_data, "off").pk, worker="w@h").memory_watch == {}
    settings.WORKER_OOM_KILL_COUNTER = f"{tmp_path / 'missing'}:oom_kill"
    assert job_start(job_id=launch(alice, tagging_data, "missing").pk, worker="w@h").memory_watch == {}
