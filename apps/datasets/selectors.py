"""Reads of the datasets app, and who may see which dataset."""
from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db.models import QuerySet
from django.http import Http404
from django.shortcuts import get_object_or_404

from apps.datasets.models import Dataset
from rnnservice.api import MAX_ID
from rnnservice.visibility import visible_to


def dataset_list(*, user: AbstractBaseUser | AnonymousUser) -> QuerySet[Dataset]:
    """The datasets `user` may see, newest first: their own; staff see every one."""
    return visible_to(Dataset.objects.select_related("owner"), user)


def dataset_get(*, user: AbstractBaseUser | AnonymousUser, pk: int) -> Dataset:
    """One dataset `user` may see; Http404 otherwise, whether or not it exists."""
    if pk > MAX_ID:                     # no such row, and a query with it would overflow
        raise Http404
    return get_object_or_404(dataset_list(user=user), pk=pk)
