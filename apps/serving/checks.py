"""System checks for configuration that serving cannot work with."""
from __future__ import annotations

import torch
from django.conf import settings
from django.core.checks import Error, register


@register()
def check_device(app_configs, **kwargs) -> list[Error]:
    # Found at start-up rather than at the first prediction, where it would look like the client's mistake.
    device = settings.RNNSERVICE_DEVICE
    if not device.startswith("cuda"):
        return []
    index = int(device.partition(":")[2] or 0)
    if index >= torch.cuda.device_count():
        return [Error(f"RNNSERVICE_DEVICE={device} but this machine has {torch.cuda.device_count()} CUDA device(s)",
                      hint="Use auto (CUDA when present, else the CPU), cpu, or an index of a device that exists.",
                      id="serving.E001")]
    return []
