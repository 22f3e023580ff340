"""Who sees what, for every /api/ endpoint and method found in the URL configuration: the status each role gets
on the owner's objects, lists that show no one else's rows, and errors that say no more than for a missing object.
An endpoint or method without an entry in EXPECTED fails the first test, so the table stays complete."""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import URLPattern, URLResolver, get_resolver
from rest_framework.test import APIClient

from apps.datasets.services import dataset_validate
from apps.training.models import TrainingJob
from apps.training.services import job_cancel, job_launch
from tests.factories import DATA, DatasetFactory

OWNER, SECOND, STRANGER, ANONYMOUS, STAFF = "owner", "second user", "stranger", "anonymous", "staff"
ROLES = (OWNER, SECOND, STRANGER, ANONYMOUS, STAFF)
USERNAMES = {OWNER: "alice", SECOND: "bob", STRANGER: "charlie", STAFF: "sam"}


def private(ok: int) -> dict[str, int]:
    """The owner's object: the owner and staff may act on it; to other users it does not exist."""
    return {OWNER: ok, SECOND: 404, STRANGER: 404, ANONYMOUS: 401, STAFF: ok}


def signed_in(ok: int) -> dict[str, int]:
    return {OWNER: ok, SECOND: ok, STRANGER: ok, ANONYMOUS: 401, STAFF: ok}


EVERYONE = dict.fromkeys(ROLES, 200)
EXPECTED: dict[tuple[str, str], dict[str, int]] = {
    ("POST", "api/auth/token/"): {**EVERYONE, ANONYMOUS: 400},       # anonymous: no username and password
    ("GET", "api/datasets/"): signed_in(200),
    ("POST", "api/datasets/"): signed_in(201),
    ("GET", "api/datasets/<int:pk>/"): private(200),
    ("DELETE", "api/datasets/<int:pk>/"): private(204),
    ("GET", "api/training-jobs/"): signed_in(200),
    # On the owner's dataset: to others it does not exist, a 400 naming the field (staff may use any dataset).
    ("POST", "api/training-jobs/"): {OWNER: 201, SECOND: 400, STRANGER: 400, ANONYMOUS: 401, STAFF: 201},
    ("GET", "api/training-jobs/<int:pk>/"): private(200),
    ("DELETE", "api/training-jobs/<int:pk>/"): private(204),
    ("POST", "api/training-jobs/<int:pk>/cancel/"): private(200),
    ("GET", "api/models/"): signed_in(200),
    ("GET", "api/models/<slug:name>/"): private(200),
    ("PATCH", "api/models/<slug:name>/"): private(200),
    ("POST", "api/models/<slug:name>/aliases/"): private(201),
    ("POST", "api/models/<slug:name>/predict/"): private(200),
    ("POST", "api/models/<slug:name>/evaluate/"): private(200),
    ("GET", "api/schema/"): EVERYONE,                                # the API's description is public
    ("GET", "api/docs/"): EVERYONE,
    ("GET", "api/redoc/"): EVERYONE,
}
# What the owner keeps to themselves: none of it may reach a response to another user.
SECRETS = ("alice", "alices-private-data", "alices private notes")


def api_endpoints(patterns: list | None = None, prefix: str = "") -> Iterator[tuple[str, str]]:
    """(method, route) of every view under /api/ in the URL configuration; OPTIONS and HEAD come with each."""
    for entry in get_resolver().url_patterns if patterns is None else patterns:
        route = prefix + str(entry.pattern)
        if isinstance(entry, URLResolver):
            yield from api_endpoints(entry.url_patterns, route)
        elif isinstance(entry, URLPattern) and route.startswith("api/"):
            view = getattr(entry.callback, "view_class", None)
            if view is None:                      # a plain function: any method, one entry "*" for it
                yield "*", route
                continue
            for method in view.http_method_names:
                if method not in ("options", "head") and hasattr(view, method):
                    yield method.upper(), route


@dataclass
class World:
    """alice's objects, the ones under test; bob has some of his own, charlie none."""

    dataset: int          # valid, with a test file; nothing trained on it, so it can be deleted
    job: int              # queued
    finished_job: int     # cancelled, so it can be deleted
    model: str


@pytest.fixture
def world(alice, bob, charlie, staff, make_version) -> World:
    spare, trained_on = (_dataset(alice, name) for name in ("alices-private-data", "alices-training-data"))
    model = make_version(alice, dataset=spare).model
    model.description = "alices private notes"
    model.save()
    job, finished = (job_launch(owner=alice, dataset=trained_on, model_name=name, training={"epochs": 1})
                     for name in ("alices-model", "alices-other-model"))
    job_cancel(job=finished)
    bobs_dataset = _dataset(bob, "bobs-data")
    make_version(bob, name="bobs-model", dataset=bobs_dataset)
    job_launch(owner=bob, dataset=bobs_dataset, model_name="bobs-model", training={"epochs": 1})
    return World(dataset=spare.pk, job=job.pk, finished_job=finished.pk, model=model.name)


def _dataset(owner, name: str):
    dataset = DatasetFactory(owner=owner, name=name, task="classification", format="tsv",
                             files={"train": "tiny_sst.tsv", "test": "tiny_sst.tsv"})
    return dataset_validate(dataset_id=dataset.pk)


def client_for(role: str, api_as, django_user_model) -> APIClient:
    if role == ANONYMOUS:
        return APIClient()
    return api_as(django_user_model.objects.get(username=USERNAMES[role]))


def url_for(method: str, route: str, world: World) -> str:
    """The route with the owner's object in it: the deletable dataset or job for DELETE."""
    job = world.finished_job if method == "DELETE" else world.job
    return "/" + (route.replace("<int:pk>", str(world.dataset if route.startswith("api/datasets/") else job))
                  .replace("<slug:name>", world.model))


def request_body(method: str, route: str, role: str, world: World) -> tuple[dict[str, Any] | None, str]:
    """(body, format) of a request the owner would have answered with success."""
    if route == "api/auth/token/":
        return ({} if role == ANONYMOUS else {"username": USERNAMES[role], "password": "password"}), "json"
    if route == "api/datasets/" and method == "POST":
        upload = SimpleUploadedFile("train.tsv", (DATA / "tiny_sst.tsv").read_bytes())
        return {"name": "new", "task": "classification", "train": upload}, "multipart"
    bodies = {
        "api/training-jobs/": {"dataset": world.dataset, "model_name": "fresh", "training": {"epochs": 1}},
        "api/models/<slug:name>/": {"description": "changed"},
        "api/models/<slug:name>/aliases/": {"alias": "staging", "version": 1},
        "api/models/<slug:name>/predict/": {"inputs": ["great fun ."]},
        "api/models/<slug:name>/evaluate/": {"dataset": world.dataset},
    }
    return (bodies.get(route) if method in ("POST", "PATCH") else None), "json"


def send(client: APIClient, method: str, url: str, body: dict | None, format: str):
    if body is None:
        return getattr(client, method.lower())(url)
    return getattr(client, method.lower())(url, body, format=format)


def test_the_expectations_cover_every_api_endpoint_and_method():
    found = set(api_endpoints())
    assert found - set(EXPECTED) == set(), "new endpoints: add them to EXPECTED with each role's status"
    assert set(EXPECTED) - found == set(), "EXPECTED names endpoints that are gone"


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize(("method", "route"), sorted(EXPECTED))
def test_each_role_gets_the_expected_status(world, api_as, django_user_model, method, route, role):
    body, format = request_body(method, route, role, world)
    response = send(client_for(role, api_as, django_user_model), method, url_for(method, route, world), body, format)
    assert response.status_code == EXPECTED[method, route][role], getattr(response, "data", response)
    if role not in (OWNER, STAFF):
        text = response.content.decode()
        assert not any(secret in text for secret in SECRETS), text


@pytest.mark.parametrize("role", [OWNER, SECOND, STRANGER, STAFF])
@pytest.mark.parametrize("route", ["api/datasets/", "api/training-jobs/", "api/models/"])
def test_lists_show_only_the_users_own_rows(world, api_as, django_user_model, route, role):
    results = client_for(role, api_as, django_user_model).get("/" + route).json()["results"]
    owners = {row["owner"] for row in results}
    assert owners == ({"alice", "bob"} if role == STAFF else {USERNAMES[role]} if role != STRANGER else set())
    if role == OWNER:
        assert len(results) == {"api/datasets/": 2, "api/training-jobs/": 2, "api/models/": 1}[route]


@pytest.mark.parametrize(("method", "route"), [key for key, roles in EXPECTED.items() if roles[SECOND] == 404])
def test_another_users_object_reads_as_one_that_does_not_exist(world, api_as, bob, method, route):
    missing = World(dataset=world.dataset + 1000, job=world.job + 1000, finished_job=world.finished_job + 1000,
                    model="no-such-model")
    body, format = request_body(method, route, SECOND, world)
    client = api_as(bob)
    hidden = send(client, method, url_for(method, route, world), body, format)
    absent = send(client, method, url_for(method, route, missing), body, format)
    assert (hidden.status_code, absent.status_code) == (404, 404)
    name_free = hidden.content.decode().replace(world.model, "no-such-model")
    assert name_free == absent.content.decode()          # the same words, but for the name the client gave
    assert TrainingJob.objects.filter(pk=world.job, status="queued").exists()
