"""Tests for lost messages in apps/training/services.py: a launch while the broker is down, jobs_resend_unclaimed,
and the claim that makes a duplicate message do nothing. tests/faults/test_broker_restart.py does it for real."""
from __future__ import annotations

import threading
from datetime import timedelta

from django.db import connection
from django.utils import timezone
from kombu.exceptions import OperationalError as BrokerError

from apps.registry.models import ModelVersion
from apps.training.models import TrainingJob
from apps.training.recovery import jobs_resend_unclaimed
from apps.training.runs import job_run, job_start
from apps.training.services import job_launch
from apps.training.tasks import train_model
from tests.training.conftest import tiny_launch


def launch(owner, dataset, **kwargs) -> TrainingJob:
    return job_launch(owner=owner, dataset=dataset, model_name="resent", **tiny_launch(), **kwargs)


def refuse(job_id: int) -> None:
    raise BrokerError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")


def test_it_saves_a_job_launched_while_the_broker_is_down_and_sends_it_at_the_next_check(
        alice, tagging_data, sent, monkeypatch, django_capture_on_commit_callbacks):
    monkeypatch.setattr(train_model, "delay", refuse)
    with django_capture_on_commit_callbacks(execute=True):
        job = launch(alice, tagging_data)
    assert job.sent_at is None
    assert "not sent to the training queue yet: the broker cannot be reached (OperationalError)" in job.log_tail
    stored = TrainingJob.objects.get(pk=job.pk)
    assert (stored.status, stored.sent_at, stored.log_tail) == ("queued", None, job.log_tail)

    assert jobs_resend_unclaimed() == []                       # the broker still refuses: kept for the next pass
    monkeypatch.setattr(train_model, "delay", sent.append)
    assert jobs_resend_unclaimed() == [job.pk]

    assert sent == [job.pk]
    job.refresh_from_db()
    assert job.status == "queued" and job.sent_at is not None
    assert "sent to the queue again: never sent" in job.log_tail
    assert jobs_resend_unclaimed() == []                       # just sent: not again before the setting's time


def test_it_sends_a_job_not_taken_in_time_again_and_the_duplicate_does_nothing(
        alice, tagging_data, sent, settings, django_capture_on_commit_callbacks):
    settings.TRAINING_QUEUED_RESEND_SECONDS = 300
    with django_capture_on_commit_callbacks(execute=True):
        job = launch(alice, tagging_data)
    assert sent == [job.pk]
    TrainingJob.objects.filter(pk=job.pk).update(sent_at=timezone.now() - timedelta(seconds=299))
    assert jobs_resend_unclaimed() == []
    TrainingJob.objects.filter(pk=job.pk).update(sent_at=timezone.now() - timedelta(seconds=301))
    assert jobs_resend_unclaimed() == [job.pk]
    assert sent == [job.pk, job.pk]
    assert "sent to the queue again: not taken since" in TrainingJob.objects.get(pk=job.pk).log_tail

    assert job_run(job_id=job.pk, worker="celery@first").status == "succeeded"
    assert job_run(job_id=job.pk, worker="celery@second") is None            # the second message
    job.refresh_from_db()
    assert (job.attempts, job.worker, job.log_tail.count("succeeded:")) == (1, "celery@first", 1)
    assert ModelVersion.objects.count() == 1
    assert jobs_resend_unclaimed(older_than=timedelta(0)) == []              # finished: never sent again


def test_it_never_sends_a_running_job_or_one_that_runs_here(alice, tagging_data, sent):
    here = launch(alice, tagging_data, queue=False)             # manage.py train --sync: claimed by the command
    assert here.sent_at is not None
    running = launch(alice, tagging_data, queue=False)
    TrainingJob.objects.filter(pk=running.pk).update(status="running", attempts=1, heartbeat_at=timezone.now())
    assert jobs_resend_unclaimed() == []
    assert jobs_resend_unclaimed(older_than=timedelta(0)) == [here.pk]      # unless it is not taken in time
    assert sent == [here.pk]


def test_it_lets_one_of_many_simultaneous_deliveries_claim_a_job(transactional_db, alice, tagging_data):
    job = launch(alice, tagging_data)
    claims: list[TrainingJob | None] = []
    start = threading.Barrier(6)

    def deliver(number: int) -> None:
        try:
            start.wait()
            claims.append(job_start(job_id=job.pk, worker=f"celery@worker-{number}"))
        finally:
            connection.close()                                  # each thread has its own connection
    threads = [threading.Thread(target=deliver, args=(number,)) for number in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    winners = [claim for claim in claims if claim is not None]
    assert len(claims) == 6 and len(winners) == 1
    job.refresh_from_db()
    assert (job.status, job.attempts, job.worker) == ("running", 1, winners[0].worker)
    assert job.log_tail.count("attempt 1 started") == 1
