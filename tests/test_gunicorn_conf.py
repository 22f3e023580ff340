"""gunicorn.conf.py's defaults per box: workers and torch threads from the cores, GPU or not, and the overrides."""
from __future__ import annotations

import os
import runpy
from pathlib import Path

import pytest

CONF = Path(__file__).resolve().parent.parent / "gunicorn.conf.py"


def _conf(monkeypatch, cores: int, **env: str) -> tuple[int, int, int]:
    """(workers, torch threads, request threads) on a box of `cores` cores with `env`."""
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(cores)), raising=False)
    for name in ("GUNICORN_WORKERS", "GUNICORN_THREADS", "TORCH_THREADS", "RNNSERVICE_DEVICE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("RNNSERVICE_DEVICE", "cpu")
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    conf = runpy.run_path(str(CONF))
    return conf["workers"], conf["torch_threads"], conf["threads"]


@pytest.mark.parametrize(("cores", "expected"), [(1, (1, 1, 16)), (2, (2, 1, 16)), (4, (4, 1, 8)),
                                                 (16, (8, 2, 4)), (64, (8, 8, 4))])
def test_a_cpu_box_gets_a_worker_per_core_up_to_eight_and_the_other_cores_as_torch_threads(monkeypatch, cores,
                                                                                           expected):
    workers, torch_threads, threads = _conf(monkeypatch, cores)
    assert (workers, torch_threads, threads) == expected
    assert workers * threads <= 32                 # database connections of one web machine


def test_a_gpu_box_gets_one_worker(monkeypatch):
    assert _conf(monkeypatch, 16, RNNSERVICE_DEVICE="cuda") == (1, 16, 16)


def test_the_environment_overrides_the_defaults_and_an_empty_value_keeps_them(monkeypatch):
    assert _conf(monkeypatch, 12, GUNICORN_WORKERS="3") == (3, 4, 10)
    assert _conf(monkeypatch, 12, GUNICORN_WORKERS="3", TORCH_THREADS="2", GUNICORN_THREADS="6") == (3, 2, 6)
    assert _conf(monkeypatch, 2, GUNICORN_WORKERS="", TORCH_THREADS="") == (2, 1, 16)   # compose's ${NAME:-}
