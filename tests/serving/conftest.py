"""Fixtures for the serving tests: every test starts with an empty model cache."""
from __future__ import annotations

import pytest

from apps.serving.cache import models


@pytest.fixture(autouse=True)
def empty_model_cache():
    """Version ids and sha256s repeat from test to test (the same tiny models, a rolled-back database), so a
    cache kept across tests would answer with a Predictor loaded from another test's folder."""
    models.clear()
    yield models
    models.clear()
