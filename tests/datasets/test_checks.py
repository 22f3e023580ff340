"""Tests for the datasets app's system checks."""
from django.core.checks import run_checks


def test_it_refuses_a_media_root_with_a_comma(settings, tmp_path):
    assert not [error for error in run_checks() if error.id == "datasets.E001"]
    settings.MEDIA_ROOT = tmp_path / "a,b"
    assert [error.id for error in run_checks() if error.id.startswith("datasets.")] == ["datasets.E001"]
