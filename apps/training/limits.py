"""What a launch must fit in, read from settings on every launch: the model's size and a step's memory as estimated
from the config and the dataset's statistics (rnnservice/ml/budget.py), the jobs a user has queued or running at
once, and a metric the data can give. Each refusal names its setting, or the field at fault."""
from __future__ import annotations

import torch
from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser

from apps.datasets.models import Dataset
from apps.training.models import TrainingJob
from rnnservice.errors import LimitExceeded, ServiceError
from rnnservice.ml.budget import DataShape, Estimate, estimate
from rnnservice.ml.config import RunConfig
from rnnservice.ml.metrics import is_bio

# What torch's allocators say when an allocation fails (CPU: "DefaultCPUAllocator: can't allocate memory").
OUT_OF_MEMORY = ("can't allocate memory", "out of memory")


def run_estimate(config: RunConfig, dataset: Dataset) -> Estimate:
    """The parameters and a step's memory of training `config` on `dataset`, from its training split's statistics."""
    return estimate(config, DataShape.from_statistics(dataset.statistics.get("splits", {}).get("train", {})))


def check_budget(config: RunConfig, dataset: Dataset) -> Estimate:
    """The run's estimate, refused over TRAINING_MAX_PARAMETERS or TRAINING_MAX_MEMORY_BYTES: a model of billions
    of parameters killed the worker that built it, and each worker that tried again."""
    cost = run_estimate(config, dataset)
    if cost.parameters > settings.TRAINING_MAX_PARAMETERS:
        raise LimitExceeded("TRAINING_MAX_PARAMETERS", cost.parameters, settings.TRAINING_MAX_PARAMETERS,
                            what="the model's estimated number of parameters", field="architecture",
                            estimate={"parameters": cost.parameters, "memory_bytes": cost.memory_bytes})
    if cost.memory_bytes > settings.TRAINING_MAX_MEMORY_BYTES:
        raise LimitExceeded("TRAINING_MAX_MEMORY_BYTES", cost.memory_bytes, settings.TRAINING_MAX_MEMORY_BYTES,
                            what="the estimated memory of a training step, in bytes", field="training",
                            estimate={"parameters": cost.parameters, "memory_bytes": cost.memory_bytes})
    return cost


def out_of_memory_advice(config: RunConfig, dataset: Dataset) -> str:
    """What the launch estimated for a job that ran out of memory, and what to change."""
    cost = run_estimate(config, dataset)
    return (f"the launch estimated {cost.parameters:,} parameters and {cost.memory_bytes:,} bytes a step "
            f"(TRAINING_MAX_MEMORY_BYTES is {settings.TRAINING_MAX_MEMORY_BYTES:,}); lower the batch size, "
            "max_length or the model's sizes, or give the worker more memory")


def is_out_of_memory(exc: BaseException) -> bool:
    """An allocation that failed: Python's, CUDA's (torch.OutOfMemoryError) or torch's CPU allocator's."""
    if isinstance(exc, (MemoryError, torch.OutOfMemoryError)):
        return True
    return isinstance(exc, RuntimeError) and any(words in str(exc) for words in OUT_OF_MEMORY)


def check_active_jobs(owner: AbstractBaseUser) -> None:
    """At most TRAINING_MAX_JOBS_PER_USER jobs of one owner queued or running at once, so that one user cannot
    fill the training queue. The caller holds a lock on the owner's row, so that two launches count in turn."""
    active = TrainingJob.objects.filter(owner=owner, status__in=TrainingJob.ACTIVE).count()
    maximum = settings.TRAINING_MAX_JOBS_PER_USER
    if active >= maximum:
        raise LimitExceeded("TRAINING_MAX_JOBS_PER_USER", active + 1, maximum,
                            what="your jobs queued or running at once, with this one")


def check_metric(config: RunConfig, dataset: Dataset) -> None:
    """entity_f1 needs BIO tags: on other tags no dev score has it, and early stopping would fail after epoch 1."""
    if config.training.metric == "entity_f1":
        tags = list(dataset.statistics.get("splits", {}).get("train", {}).get("labels") or {})
        if not is_bio(tags):
            raise ServiceError("training.metric entity_f1 needs BIO tags (B-X, I-X, O); this dataset's tags are "
                               "not: use accuracy or macro_f1", field="training.metric")


def check_windows(config: RunConfig, dataset: Dataset) -> None:
    """Forecasting: the targets are columns of the data set, and its longest training series holds a window of
    lookback + horizon rows; else the job would fail in the worker after it was accepted."""
    if config.task != "forecasting":
        return
    train = dataset.statistics.get("splits", {}).get("train", {})
    columns = train.get("columns") or []
    for name in config.data.targets:
        if columns and name not in columns:
            raise ServiceError(f"data.targets: {name!r} is not a column of dataset {dataset.pk}; it has "
                               f"{', '.join(map(repr, columns))}", field="data.targets")
    rows, span = int(train.get("length", {}).get("max", 0)), config.data.lookback + config.data.horizon
    if rows and rows < span:
        raise ServiceError(f"data.lookback + data.horizon = {span:,} rows, but the longest series of dataset "
                           f"{dataset.pk} has {rows:,}: no window fits", field="data.lookback")
