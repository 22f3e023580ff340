"""Tests for apps.datasets.files: a dataset's files as local paths, in place on a disk, copied from a bucket."""
from __future__ import annotations

from pathlib import Path

from apps.datasets.files import dataset_paths
from tests.factories import DATA, DatasetFactory

FILES = {"train": "tiny.de", "train_target": "tiny.en", "dev": "tiny.de", "dev_target": "tiny.en"}


def test_on_a_local_disk_it_gives_the_stored_files_themselves(alice, media_root):
    dataset = DatasetFactory(owner=alice, task="translation", format="parallel", files=FILES)
    with dataset_paths(dataset) as paths:
        assert paths == {field: stored.path for field, stored in dataset.files().items()}
        assert all(Path(path).is_relative_to(media_root) for path in paths.values())


def test_from_a_bucket_it_copies_the_files_asked_for_and_removes_the_copies(alice, s3_bucket, media_root):
    dataset = DatasetFactory(owner=alice, task="translation", format="parallel", files=FILES)
    assert len(s3_bucket.keys(f"media/datasets/{dataset.pk}/")) == 4 and not media_root.exists()
    with dataset_paths(dataset, ("dev", "dev_target")) as paths:
        assert sorted(paths) == ["dev", "dev_target"]
        # Named as stored, so that a format is still guessed from the extension.
        assert [Path(paths[field]).name for field in ("dev", "dev_target")] == ["dev.de", "dev_target.en"]
        assert Path(paths["dev_target"]).read_bytes() == (DATA / "tiny.en").read_bytes()
    assert not any(Path(path).exists() for path in paths.values())
