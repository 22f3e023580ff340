"""The web server's settings per box (rnnservice/server.py): workers and torch threads from the cores, GPU or not,
the environment's overrides, and a clear refusal of a bad value."""
from __future__ import annotations

import os

import pytest

from rnnservice.server import ServerSettings, granian_server, server_settings

NAMES = ("WEB_HOST", "WEB_PORT", "WEB_WORKERS", "WEB_THREADS", "TORCH_THREADS", "WEB_HEADER_TIMEOUT",
         "WEB_BODY_TIMEOUT", "RNNSERVICE_DEVICE")


def settings_on(monkeypatch, cores: int, **env: str) -> ServerSettings:
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(cores)), raising=False)
    for name in NAMES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("RNNSERVICE_DEVICE", "cpu")
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return server_settings()


@pytest.mark.parametrize(("cores", "expected"), [(1, (1, 1, 16)), (2, (2, 1, 16)), (4, (4, 1, 8)),
                                                 (16, (8, 2, 4)), (64, (8, 8, 4))])
def test_a_cpu_box_gets_a_worker_per_core_up_to_eight_and_the_other_cores_as_torch_threads(monkeypatch, cores,
                                                                                           expected):
    config = settings_on(monkeypatch, cores)
    assert (config.workers, config.torch_threads, config.threads) == expected
    assert config.workers * config.threads <= 32                # database connections of one web machine


def test_it_listens_on_this_machine_only_unless_told_and_times_out_slow_clients(monkeypatch):
    config = settings_on(monkeypatch, 2)
    assert (config.host, config.port, config.header_timeout, config.body_timeout) == ("127.0.0.1", 8000, 5, 10)
    server = granian_server(config)
    assert (server.bind_addr, server.bind_port, server.workers) == ("127.0.0.1", 8000, 2)
    assert server.http1_settings.header_read_timeout == 5000
    assert settings_on(monkeypatch, 2, WEB_HOST="0.0.0.0", WEB_PORT="9000").host == "0.0.0.0"


def test_a_gpu_box_gets_one_worker(monkeypatch):
    config = settings_on(monkeypatch, 16, RNNSERVICE_DEVICE="cuda")
    assert (config.workers, config.torch_threads, config.threads) == (1, 16, 16)


def test_the_environment_overrides_the_defaults_and_an_empty_value_keeps_them(monkeypatch):
    config = settings_on(monkeypatch, 12, WEB_WORKERS="3", TORCH_THREADS="2", WEB_THREADS="6")
    assert (config.workers, config.torch_threads, config.threads) == (3, 2, 6)
    config = settings_on(monkeypatch, 2, WEB_WORKERS="", TORCH_THREADS="")                 # compose's ${NAME:-}
    assert (config.workers, config.torch_threads) == (2, 1)


@pytest.mark.parametrize(("name", "value", "message"), [("WEB_WORKERS", "0", "WEB_WORKERS=0: must be 1 or more"),
                                                        ("WEB_PORT", "eighty", "WEB_PORT='eighty': must be a whole")])
def test_a_bad_value_is_refused_naming_it(monkeypatch, name, value, message):
    with pytest.raises(SystemExit, match=message):
        settings_on(monkeypatch, 2, **{name: value})
