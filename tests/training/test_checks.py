"""Tests for the training app's system checks and settings."""
from __future__ import annotations

import runpy
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from apps.training.checks import check_heartbeat

SETTINGS = Path(__file__).resolve().parents[2] / "rnnservice" / "settings.py"


def test_it_needs_more_than_two_heartbeats_before_a_job_counts_as_silent(settings):
    settings.TRAINING_HEARTBEAT_SECONDS, settings.TRAINING_STALE_SECONDS = 10, 60
    assert check_heartbeat(None) == []
    settings.TRAINING_STALE_SECONDS = 20
    [error] = check_heartbeat(None)
    assert error.id == "training.E001"
    assert error.msg == "TRAINING_STALE_SECONDS (20) must be more than twice TRAINING_HEARTBEAT_SECONDS (10)"


def test_it_reads_the_training_settings_from_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("RNNSERVICE_HOME", str(tmp_path))
    monkeypatch.setenv("DJANGO_SECRET_KEY", "s3cret")
    for name in ("TRAINING_HEARTBEAT_SECONDS", "TRAINING_STALE_SECONDS", "TRAINING_MAX_ATTEMPTS"):
        monkeypatch.delenv(name, raising=False)
    defaults = runpy.run_path(str(SETTINGS))
    assert (defaults["TRAINING_HEARTBEAT_SECONDS"], defaults["TRAINING_STALE_SECONDS"],
            defaults["TRAINING_MAX_ATTEMPTS"]) == (10, 60, 3)
    assert defaults["CELERY_BEAT_SCHEDULE_FILENAME"] == str(tmp_path / "celerybeat-schedule")
    monkeypatch.setenv("TRAINING_STALE_SECONDS", "5")
    monkeypatch.setenv("TRAINING_HEARTBEAT_SECONDS", "1")
    changed = runpy.run_path(str(SETTINGS))
    assert (changed["TRAINING_STALE_SECONDS"], changed["TRAINING_HEARTBEAT_SECONDS"]) == (5, 1)
    assert changed["CELERY_BEAT_SCHEDULE"]["requeue-stale-training-jobs"]["schedule"] == 5.0
    monkeypatch.setenv("TRAINING_MAX_ATTEMPTS", "0")
    with pytest.raises(ImproperlyConfigured, match="TRAINING_MAX_ATTEMPTS=0: use a number of at least 1"):
        runpy.run_path(str(SETTINGS))
