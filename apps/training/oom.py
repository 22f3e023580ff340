"""Whether the kernel's OOM killer killed a job's worker. Such a worker leaves no word of its own (SIGKILL): its
job only goes silent, and sent again it kills the next worker the same way. So each attempt records the machine's
count of OOM kills as it starts (WORKER_OOM_KILL_COUNTER); a check on the same machine that finds the job's
worker gone and the count risen fails the job once, naming its estimate, instead of sending it again."""
from __future__ import annotations

import logging
import socket
from typing import Any

from django.conf import settings

from apps.training.models import TrainingJob

logger = logging.getLogger(__name__)


def oom_watch() -> dict[str, Any]:
    """{"host", "counter", "kills"} now, for a job's memory_watch; {} when WORKER_OOM_KILL_COUNTER is off or
    cannot be read (the check is then skipped, and a killed job is sent again as any other)."""
    counter = settings.WORKER_OOM_KILL_COUNTER
    kills = _read(counter) if counter else None
    return {} if kills is None else {"host": socket.gethostname(), "counter": counter, "kills": kills}


def oom_killed(job: TrainingJob) -> str:
    """How the OOM kills rose on this machine since the job's latest attempt started there ("" when they did not,
    or when the attempt ran on another machine: its count is not this one's)."""
    then, now = job.memory_watch or {}, oom_watch()
    if not then or not now or (then["host"], then["counter"]) != (now["host"], now["counter"]):
        return ""
    if now["kills"] <= then["kills"]:
        return ""
    path, field = then["counter"].rsplit(":", 1)
    return (f"the kernel's OOM killer killed {now['kills'] - then['kills']} process(es) on {now['host']} while "
            f"attempt {job.attempts} ran there ({field} in {path} went from {then['kills']} to {now['kills']})")


def _read(counter: str) -> int | None:
    """The value of FIELD in FILE ("FILE:FIELD"; lines of "name value", as /proc/vmstat and a cgroup's
    memory.events are)."""
    path, _, field = counter.rpartition(":")
    try:
        with open(path, encoding="ascii") as lines:
            for line in lines:
                name, _, value = line.partition(" ")
                if name == field:
                    return int(value)
    except (OSError, ValueError) as exc:
        logger.warning("WORKER_OOM_KILL_COUNTER %s cannot be read: %s", counter, exc)
        return None
    logger.warning("WORKER_OOM_KILL_COUNTER %s: no field %r in %s", counter, field, path)
    return None
