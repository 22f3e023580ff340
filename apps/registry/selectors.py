"""Reads of the registry: which models a user may see, their versions, and which version answers a request."""
from __future__ import annotations

import re

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
from rnnservice.api import visible_to
from rnnservice.errors import ServiceError

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
    """version_resolve's choice among the versions of the model `name` that `user` may see, with its model: one
    small query in the usual case, since prediction asks this on every request (the query compiler costs more
    than the query). When there is none, the two-step lookup says why (Http404 from model_get_visible or
    version_resolve)."""
    versions = visible_to(ModelVersion.objects.select_related("model"), user, owner_field="model__owner")
    versions = versions.filter(model__name=name)
    if version is not None:
        found = versions.filter(number=version)[:1]
    elif alias is not None:
        found = versions.filter(aliases__name=alias)[:1]
    else:                                        # production, else the newest
        found = versions.filter(aliases__name=PRODUCTION)[:1] or versions.order_by("-number")[:1]
    if found:
        return found[0]
    return version_resolve(model=model_get_visible(user=user, name=name), version=version, alias=alias)
