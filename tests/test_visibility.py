"""Tests for rnnservice/visibility.py: owners see their rows, staff see all, anonymous users none."""
from __future__ import annotations

from django.contrib.auth.models import AnonymousUser

from apps.datasets.models import Dataset
from rnnservice.visibility import visible_to
from tests.factories import DatasetFactory


def test_it_shows_owners_their_own_rows_staff_all_and_anonymous_users_none(alice, bob, staff):
    mine, theirs = DatasetFactory(owner=alice), DatasetFactory(owner=bob)
    assert list(visible_to(Dataset.objects.all(), alice)) == [mine]
    assert set(visible_to(Dataset.objects.all(), staff)) == {mine, theirs}
    assert list(visible_to(Dataset.objects.all(), AnonymousUser())) == []
