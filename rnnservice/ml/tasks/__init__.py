"""The tasks the core can learn, each one module with a Task (see base.py). Adding a task is adding a module
and listing it here. Modules load on first use, so `config` can name the tasks without importing torch models."""
from __future__ import annotations

import importlib
from functools import cache

from rnnservice.ml.tasks.base import Task

MODULES = {
    "tagging": "rnnservice.ml.tasks.tagging",
    "classification": "rnnservice.ml.tasks.classification",
    "translation": "rnnservice.ml.tasks.translation",
    "generation": "rnnservice.ml.tasks.generation",
    "forecasting": "rnnservice.ml.tasks.forecasting",
}
TASKS = tuple(MODULES)


@cache
def get(name: str) -> Task:
    """The Task named `name`; a KeyError for a name not in MODULES (config validation names the choices)."""
    return importlib.import_module(MODULES[name]).TASK


def task_choices() -> list[tuple[str, str]]:
    """Django model field choices: a callable, so that a new task needs no migration."""
    return [(name, name) for name in TASKS]


__all__ = ["MODULES", "TASKS", "Task", "get", "task_choices"]
