"""A dataset's stored files as paths on this machine, for the core's parsers, which read paths: the stored file
itself where the storage keeps files on a local disk (MEDIA_ROOT), else a temporary copy (a bucket, MEDIA_STORE_URL)."""
from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path, PurePosixPath

from django.db.models.fields.files import FieldFile

from apps.datasets.models import Dataset

CHUNK = 1 << 20


@contextmanager
def dataset_paths(dataset: Dataset, fields: Iterable[str] | None = None) -> Iterator[dict[str, str]]:
    """{field: local path} of the dataset's stored files (of `fields` only, when given); temporary copies are
    removed on leaving the block. A copy keeps the stored file's name, whose extension formats are guessed from."""
    wanted = dataset.files()
    if fields is not None:
        chosen = set(fields)
        wanted = {field: stored for field, stored in wanted.items() if field in chosen}
    with tempfile.TemporaryDirectory(prefix=f"dataset-{dataset.pk}-") as folder:
        yield {field: _local_path(stored, Path(folder)) for field, stored in wanted.items()}


def _local_path(stored: FieldFile, folder: Path) -> str:
    try:
        return stored.path
    except NotImplementedError:        # a storage with no local files: copy it down
        copy = folder / PurePosixPath(stored.name).name
        with stored.storage.open(stored.name, "rb") as source, open(copy, "wb") as out:
            shutil.copyfileobj(source, out, CHUNK)
        return str(copy)


def data_path(files: dict[str, str], split: str) -> str | tuple[str, str]:
    """What the core reads for one split of `files` (as dataset_paths gives them): its file, or the pair of its
    aligned source and target files (translation)."""
    target = files.get(f"{split}_target")
    return files[split] if target is None else (files[split], target)
