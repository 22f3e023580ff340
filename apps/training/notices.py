"""What a launch warns about without refusing: a dev split too small to choose the best epoch by, or one missing
labels the training split has. Read from the dataset's statistics, so nothing is parsed at launch."""
from __future__ import annotations

from apps.datasets.models import Dataset
from rnnservice.ml.config import RunConfig

MIN_DEV_EXAMPLES = 20        # fewer, and one example more or less right moves the dev score by 5 points or more
MAX_LISTED = 10


def dev_split_warnings(config: RunConfig, dataset: Dataset) -> list[str]:
    """One sentence a problem of the dev split the run will score epochs on (early stopping, the best epoch)."""
    splits = dataset.statistics.get("splits", {})
    train = splits.get("train", {})
    dev = splits.get("dev")
    warnings = []
    if dev is not None:
        size, where = dev.get("examples", 0), "the dev file"
    else:   # split off the training examples as the pipeline does (rnnservice/ml/data.py, split_dev)
        size = max(1, round(train.get("examples", 0) * config.data.dev_fraction))
        where = f"the dev split ({config.data.dev_fraction:g} of the training examples)"
    if size < MIN_DEV_EXAMPLES:
        warnings.append(f"{where} has {size} example{'s' if size != 1 else ''}, fewer than {MIN_DEV_EXAMPLES}: its "
                        "scores are noisy, and early stopping and the best epoch rest on very few examples")
    if dev is not None and train.get("labels") is not None:
        missing = sorted(set(train["labels"]) - set(dev.get("labels") or {}))
        if missing:
            shown = ", ".join(missing[:MAX_LISTED]) + (f" and {len(missing) - MAX_LISTED} more"
                                                       if len(missing) > MAX_LISTED else "")
            warnings.append(f"{len(missing)} label{'s' if len(missing) != 1 else ''} of the training split "
                            f"{'are' if len(missing) != 1 else 'is'} missing from the dev file ({shown}): the dev "
                            "score cannot tell whether the model learnt them")
    return warnings
