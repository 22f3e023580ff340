"""schemathesis over /api/schema/: every operation, fuzzed in-process through the WSGI app as a user who owns
a dataset, models with versions and a training job. No 5xx, and every response is one the schema describes."""
from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from rest_framework.authtoken.models import Token

from apps.datasets.services import dataset_validate
from apps.training.services import job_launch
from rnnservice.wsgi import application
from tests.factories import DatasetFactory

schema = schemathesis.openapi.from_wsgi("/api/schema/?format=json", application)
# The owner's objects, by the path parameter that names them: the `owned` fixture fills it for each test.
OWNED: dict[str, list[Any]] = {}


@schema.hook
def flatmap_path_parameters(context: schemathesis.HookContext, path_parameters: dict[str, Any]) -> st.SearchStrategy:
    """Aim about half the cases at objects the user owns (generated ids and names almost never exist)."""
    path = context.operation.path
    kinds = {"id": "datasets" if path.startswith("/api/datasets/") else "jobs", "name": "models"}
    owned = {key: OWNED.get(kinds[key]) for key in path_parameters or () if key in kinds}
    if not owned or not all(owned.values()):         # no path parameters, or collecting the examples: no objects yet
        return st.just(path_parameters)
    real = {key: st.sampled_from(values) for key, values in owned.items()}
    return st.one_of(st.just(path_parameters), st.fixed_dictionaries({**path_parameters, **real}))


@pytest.fixture
def keep_connection():
    """As Django's test client does: around each request the WSGI handler would close the database connection,
    and with it the test's transaction."""
    for signal in (request_started, request_finished):
        signal.disconnect(close_old_connections)
    yield
    for signal in (request_started, request_finished):
        signal.connect(close_old_connections)


@pytest.fixture
def owned(keep_connection, alice, make_version):
    """alice's dataset, her models (one version of each task) and a queued job; her token."""
    dataset = DatasetFactory(owner=alice, task="classification", format="tsv",
                             files={"train": "tiny_sst.tsv", "test": "tiny_sst.tsv"})
    dataset = dataset_validate(dataset_id=dataset.pk)
    models = [make_version(alice, task=task, dataset=dataset if task == "classification" else None).model.name
              for task in ("classification", "tagging", "translation")]
    job = job_launch(owner=alice, dataset=dataset, model_name="sentiment", training={"epochs": 1})
    OWNED.update(datasets=[dataset.pk], models=models, jobs=[job.pk])
    yield Token.objects.create(user=alice).key
    OWNED.clear()


@schema.parametrize()
# A few dozen cases per operation, the same ones every run (derandomized, no example database): a minute at most.
@hypothesis_settings(max_examples=30, deadline=None, derandomize=True, database=None,
                     suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
def test_it_answers_every_operation_as_its_schema_says(case, owned):
    # Every check but positive_data_acceptance: a schema-valid request may still be refused for what a schema
    # cannot say (a wrong password, a version the model lacks, a file that is not a data set), with a 4xx.
    case.call_and_validate(headers={"Authorization": f"Token {owned}"},
                           excluded_checks=[schemathesis.checks.positive_data_acceptance])
