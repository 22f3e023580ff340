"""Reads of the training app, and who may see which job."""
from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db.models import QuerySet
from django.http import Http404
from django.shortcuts import get_object_or_404

from apps.training.models import TrainingJob
from rnnservice.api import MAX_ID
from rnnservice.visibility import visible_to


def job_list(*, user: AbstractBaseUser | AnonymousUser) -> QuerySet[TrainingJob]:
    """The jobs `user` may see, newest first: their own; staff see every one."""
    return visible_to(TrainingJob.objects.select_related("owner", "dataset", "version__model"), user)


def job_get(*, user: AbstractBaseUser | AnonymousUser, pk: int) -> TrainingJob:
    """One job `user` may see; Http404 otherwise, whether or not it exists."""
    if pk > MAX_ID:                     # no such row, and a query with it would overflow
        raise Http404
    return get_object_or_404(job_list(user=user), pk=pk)
