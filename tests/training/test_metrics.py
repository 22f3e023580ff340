"""Training jobs in the Prometheus metrics (rnnservice.prometheus): each final status counted once, and timed from the
job's first start when it started at all."""
from __future__ import annotations

from prometheus_client import REGISTRY

from apps.training.runs import job_fail, job_run
from apps.training.services import job_cancel, job_launch
from tests.training.conftest import tiny_launch


def finished(status: str) -> float:
    return REGISTRY.get_sample_value("rnnservice_training_jobs_finished_total", {"status": status}) or 0.0


def timed(status: str) -> float:
    return REGISTRY.get_sample_value("rnnservice_training_job_duration_seconds_count", {"status": status}) or 0.0


def launch(owner, dataset):
    return job_launch(owner=owner, dataset=dataset, model_name="tiny-upos", **tiny_launch(dataset.task))


def test_a_job_that_succeeds_is_counted_and_timed(transactional_db, alice, tagging_data):
    before = finished("succeeded"), timed("succeeded")
    job = job_run(job_id=launch(alice, tagging_data).pk)
    assert job.status == "succeeded"
    assert (finished("succeeded"), timed("succeeded")) == (before[0] + 1, before[1] + 1)


def test_a_job_cancelled_while_queued_is_counted_but_has_no_duration(alice, tagging_data,
                                                                      django_capture_on_commit_callbacks):
    job = launch(alice, tagging_data)
    before = finished("cancelled"), timed("cancelled")
    with django_capture_on_commit_callbacks(execute=True):
        job_cancel(job=job)
    assert (finished("cancelled"), timed("cancelled")) == (before[0] + 1, before[1])


def test_a_job_failed_by_on_failure_is_counted_once(alice, tagging_data):
    job = launch(alice, tagging_data)
    before = finished("failed")
    job_fail(job_id=job.pk, error="OperationalError: the database went away")
    job_fail(job_id=job.pk, error="a second delivery of the same failure")     # finished already: not again
    assert finished("failed") == before + 1
