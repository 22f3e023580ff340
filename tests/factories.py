"""factory_boy factories for the Django models; files come from tests/data."""
from __future__ import annotations

import hashlib
from pathlib import Path

import factory
from django.contrib.auth import get_user_model
from django.core.files.base import ContentFile
from factory.django import DjangoModelFactory

from apps.datasets.models import Dataset

DATA = Path(__file__).parent / "data"


class UserFactory(DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda user: f"{user.username}@example.com")
    password = factory.django.Password("password")


class DatasetFactory(DjangoModelFactory):
    """A pending dataset; `files={"train": "tiny.conllu", ...}` names files under tests/data (that is the default)."""

    class Meta:
        model = Dataset
        skip_postgeneration_save = True

    owner = factory.SubFactory(UserFactory)
    name = factory.Sequence(lambda n: f"dataset-{n}")
    task = "tagging"
    format = "conllu"

    @factory.post_generation
    def files(dataset: Dataset, create: bool, extracted: dict[str, str] | None, **kwargs) -> None:
        for field, filename in (extracted or {"train": "tiny.conllu"}).items():
            data = (DATA / filename).read_bytes()
            getattr(dataset, field).save(field + Path(filename).suffix, ContentFile(data), save=False)
            dataset.sha256[field] = hashlib.sha256(data).hexdigest()
        if create:
            dataset.save()
