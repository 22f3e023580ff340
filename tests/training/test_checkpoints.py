"""Tests for apps/training/checkpoints.py: under the models store, and copied to the artifact bucket so
that a job resumes on another machine."""
from __future__ import annotations

import shutil
from pathlib import Path

from django.utils import timezone

from apps.training.checkpoints import checkpoint_dir
from apps.training.models import TrainingJob
from apps.training.runs import job_run
from tests.training.conftest import tiny_launch
from tests.training.helpers import LONG_AGO, killed_in_epoch_3, launch


def test_it_keeps_the_checkpoint_under_the_models_store(alice, tagging_data, models_store):
    job = launch(alice, tagging_data)
    assert checkpoint_dir(job) == Path(models_store) / "checkpoints" / f"job-{job.pk}"


def _killed_at_epoch_3_on_its_first_machine(job, monkeypatch) -> list[dict]:
    """killed_in_epoch_3, and then the machine is gone with its disk. The epochs recorded."""
    killed_in_epoch_3(job, monkeypatch)
    shutil.rmtree(checkpoint_dir(job))
    TrainingJob.objects.filter(pk=job.pk).update(heartbeat_at=timezone.now() - LONG_AGO)
    return TrainingJob.objects.get(pk=job.pk).epochs


def test_with_a_bucket_a_job_resumes_on_another_machine_from_the_bucket_copy_of_its_checkpoint(
        transactional_db, s3_bucket, models_store, alice, tagging_data, monkeypatch):
    job = launch(alice, tagging_data, **tiny_launch(epochs=4, patience=10))
    first_epochs = _killed_at_epoch_3_on_its_first_machine(job, monkeypatch)
    copied = s3_bucket.keys(f"models/checkpoints/job-{job.pk}/")
    assert f"models/checkpoints/job-{job.pk}/checkpoint.json" in copied
    assert f"models/checkpoints/job-{job.pk}/last/trainer.json" in copied

    job_run(job_id=job.pk, worker="celery@second")

    job.refresh_from_db()
    assert (job.status, job.attempts, job.version.number) == ("succeeded", 2, 1)
    assert job.epochs[:2] == first_epochs                  # epoch 2's checkpoint, from the bucket: not trained again
    assert [row["attempt"] for row in job.epochs[2:]] == [2, 2]   # epoch 3 was never uploaded: trained again
    assert s3_bucket.keys("models/checkpoints/") == []     # finished: the copy is gone with the local one
    assert not checkpoint_dir(job).exists()


def test_a_bucket_copy_that_does_not_match_its_checkpoint_json_is_not_resumed(
        transactional_db, s3_bucket, models_store, alice, tagging_data, monkeypatch, caplog):
    job = launch(alice, tagging_data, **tiny_launch(epochs=3, patience=10))
    _killed_at_epoch_3_on_its_first_machine(job, monkeypatch)
    s3_bucket.client.put_object(Bucket=s3_bucket.name, Key=f"models/checkpoints/job-{job.pk}/last/model.safetensors",
                                Body=b"written by an attempt that was still uploading")

    job_run(job_id=job.pk, worker="celery@second")

    job.refresh_from_db()
    assert job.status == "succeeded"
    assert [row["attempt"] for row in job.epochs] == [2, 2, 2]       # trained from its first epoch
    assert "is not whole (last/model.safetensors does not match checkpoint.json): not resumed" in caplog.text
