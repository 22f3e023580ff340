"""System checks for training settings that would make live jobs look dead."""
from __future__ import annotations

from django.conf import settings
from django.core.checks import Error, register


@register()
def check_heartbeat(app_configs, **kwargs) -> list[Error]:
    # A running job is sent to the queue again once its heartbeat is TRAINING_STALE_SECONDS old. With fewer than
    # two heartbeats in that time, one slow database write would restart a job that is alive.
    beat, stale = settings.TRAINING_HEARTBEAT_SECONDS, settings.TRAINING_STALE_SECONDS
    if stale <= 2 * beat:
        return [Error(f"TRAINING_STALE_SECONDS ({stale}) must be more than twice TRAINING_HEARTBEAT_SECONDS ({beat})",
                      hint="Running jobs would be taken for dead ones and restarted; raise TRAINING_STALE_SECONDS.",
                      id="training.E001")]
    return []
