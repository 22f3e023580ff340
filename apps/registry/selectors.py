"""Reads of the registry: which models a user may see, their versions, and which version answers a request."""
from __future__ import annotations

import functools
import re

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db.models import Max, Prefetch, QuerySet
from django.http import Http404

from apps.registry.models import (
    ALIAS_NAME_PATTERN,
    MODEL_NAME_PATTERN,
    PRODUCTION,
    Alias,
    ModelVersion,
    RegisteredModel,
)
from apps.registry.signatures import signature_differences
from rnnservice.errors import ServiceError
from rnnservice.fresh import FreshCache
from rnnservice.queries import PreparedQuery
from rnnservice.visibility import visible_to

_REFERENCE = re.compile(rf"(?P<name>{MODEL_NAME_PATTERN})(?:@(?P<version>[0-9]+)|:(?P<alias>{ALIAS_NAME_PATTERN}))?")


def model_list(*, user: AbstractBaseUser | AnonymousUser) -> QuerySet[RegisteredModel]:
    """The models `user` may see, by name: their own; staff see every one. Each has `latest_version` (a number)
    and its aliases, with their versions, prefetched."""
    models = (RegisteredModel.objects.select_related("owner").annotate(latest_version=Max("versions__number"))
              .prefetch_related(Prefetch("aliases", queryset=Alias.objects.select_related("version")))
              .order_by("name"))                 # Meta.ordering does not apply to a query with an aggregate
    return visible_to(models, user)


def model_get(*, name: str) -> RegisteredModel:
    """The model named `name`, whoever owns it (the command line acts for the operator); Http404 when none."""
    model = RegisteredModel.objects.select_related("owner").filter(name=name).first()
    if model is None:
        raise Http404(f"no model named {name!r}")
    return model


def model_reference(*, reference: str) -> tuple[RegisteredModel, int | None, str | None]:
    """(model, version, alias) for the command line's MODEL, MODEL@VERSION or MODEL:ALIAS, whoever owns the model;
    pass version and alias on to version_resolve. ServiceError for another shape, Http404 for no such model."""
    match = _REFERENCE.fullmatch(reference)
    if match is None:
        raise ServiceError(f"{reference!r} is not MODEL, MODEL@VERSION or MODEL:ALIAS")
    version = match["version"]
    return model_get(name=match["name"]), int(version) if version else None, match["alias"]


def model_get_visible(*, user: AbstractBaseUser | AnonymousUser, name: str) -> RegisteredModel:
    """One model `user` may see; Http404 otherwise, with the same message whether or not it exists."""
    model = model_list(user=user).filter(name=name).first()
    if model is None:
        raise Http404(f"no model named {name!r}")
    return model


def alias_get(*, model: RegisteredModel, name: str) -> Alias | None:
    """The model's alias called `name`, or None."""
    return model.aliases.select_related("version").filter(name=name).first()


def version_list(*, model: RegisteredModel) -> QuerySet[ModelVersion]:
    """The model's versions, newest first, with their aliases and (when apps.training is installed) the job
    that produced each, fetched in the same query rather than one query per version."""
    versions = model.versions.select_related("dataset").prefetch_related("aliases")
    if any(field.name == "job" for field in ModelVersion._meta.get_fields()):   # TrainingJob.version, reversed
        versions = versions.select_related("job")
    return versions.order_by("-number")


def version_resolve(*, model: RegisteredModel, version: int | None = None,
                    alias: str | None = None) -> ModelVersion:
    """The given version, else the given alias, else `production`, else the newest version. Http404 naming
    what is missing."""
    versions = model.versions.select_related("model")
    if version is not None:
        found = versions.filter(number=version).first()
        if found is None:
            raise Http404(f"model {model.name!r} has no version {version}")
        return found
    if alias is not None:
        found = versions.filter(aliases__name=alias).first()
        if found is None:
            raise Http404(f"model {model.name!r} has no alias {alias!r}")
        return found
    found = versions.filter(aliases__name=PRODUCTION).first() or versions.order_by("-number").first()
    if found is None:
        raise Http404(f"model {model.name!r} has no versions yet")
    return found


def version_to_serve(*, user: AbstractBaseUser | AnonymousUser, name: str, version: int | None = None,
                     alias: str | None = None) -> ModelVersion:
    """version_resolve's choice among the versions of the model `name` that `user` may see, with its model (the
    fields that serving reads; the rest load on access). Prediction asks this on every request, so it is one
    prepared query in the usual case (two with neither version nor alias, when there is no production alias).
    When there is none, the two-step lookup says why (Http404 from model_get_visible or version_resolve)."""
    if user.is_authenticated:
        values = {"name": name} if user.is_staff else {"name": name, "user": user.pk}
        if version is not None:
            choices = [("version", {"version": version})]
        elif alias is not None:
            choices = [("alias", {"alias": alias})]
        else:
            choices = [("production", {}), ("newest", {})]
        for by, choice in choices:
            query = _serving_query(staff=bool(user.is_staff), by=by)
            key = (bool(user.is_staff), by, *sorted(values.items()), *sorted(choice.items()))
            # Kept a second in each process: a promotion takes effect everywhere within SERVING_LOOKUP_SECONDS.
            rows = _recent.get(key, lambda query=query, choice=choice: query.rows(**values, **choice))
            if rows:
                return _served_version(rows[0], query.database)
    return version_resolve(model=model_get_visible(user=user, name=name), version=version, alias=alias)


_recent = FreshCache()

# The fields serving reads, each model's in the order of its fields (as Model.from_db wants them).
_VERSION_FIELDS = ("id", "model_id", "number", "artifact_path", "sha256")
_MODEL_FIELDS = ("id", "name", "task", "owner_id")
_SERVED_FIELDS = (*_VERSION_FIELDS, "model__name", "model__task", "model__owner_id")


@functools.cache
def _serving_query(*, staff: bool, by: str) -> PreparedQuery:
    """The version chosen `by` version number, alias, the production alias or the newest, among those of a model
    that a user (staff: any user) may see: visible_to's rule, compiled once."""
    kinds = {"name": str, **({} if staff else {"user": int}),
             **{"version": {"version": int}, "alias": {"alias": str}}.get(by, {})}

    def build(*, name: str, user: int | None = None, version: int | None = None,
              alias: str | None = None) -> QuerySet[ModelVersion]:
        viewer = get_user_model()(pk=user, is_staff=staff)
        versions = visible_to(ModelVersion.objects.filter(model__name=name), viewer, owner_field="model__owner")
        if by == "version":
            versions = versions.filter(number=version)
        elif by == "alias":
            versions = versions.filter(aliases__name=alias)
        elif by == "production":
            versions = versions.filter(aliases__name=PRODUCTION)
        return versions.order_by("-number")[:1]

    return PreparedQuery(build, _SERVED_FIELDS, **kinds)


def _served_version(row: list, database: str) -> ModelVersion:
    version = ModelVersion.from_db(database, list(_VERSION_FIELDS), row[:len(_VERSION_FIELDS)])
    version.model = RegisteredModel.from_db(database, list(_MODEL_FIELDS), [row[1], *row[len(_VERSION_FIELDS):]])
    return version


def version_alias_changes(*, version: ModelVersion) -> list[str]:
    """For a newly registered version: one warning for each alias of its model whose version it differs from in
    signature (apps/registry/signatures.py), naming the differences. Moving such an alias to it needs confirm."""
    warnings = []
    for alias in version.model.aliases.select_related("version").exclude(version=version).order_by("name"):
        differences = signature_differences(alias.version.signature, version.signature)
        if differences:
            warnings.append(f"version {version.number} differs from version {alias.version.number} behind alias "
                            f"{alias.name!r}: {'; '.join(differences)}; moving {alias.name!r} to it needs confirm")
    return warnings
