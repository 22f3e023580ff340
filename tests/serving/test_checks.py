"""Tests for apps.serving.checks."""
from __future__ import annotations

import torch

from apps.serving.checks import check_device


def test_it_refuses_a_cuda_device_the_machine_does_not_have(settings, monkeypatch):
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    settings.RNNSERVICE_DEVICE = "cuda:1"
    [error] = check_device(None)
    assert (error.id, error.msg) == ("serving.E001", "RNNSERVICE_DEVICE=cuda:1 but this machine has 1 CUDA device(s)")
    for device in ("cuda", "cuda:0", "auto", "cpu"):
        settings.RNNSERVICE_DEVICE = device
        assert check_device(None) == []
