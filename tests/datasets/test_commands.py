"""Tests for `manage.py import_dataset`."""
from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from apps.datasets.models import Dataset
from tests.datasets.helpers import run_queued_validations
from tests.factories import DATA
from tests.trained import forecast_csv


def import_dataset(*args: str) -> str:
    out = StringIO()
    call_command("import_dataset", *args, stdout=out)
    return out.getvalue()


def test_it_imports_and_validates_with_wait(alice):
    out = import_dataset("ud tiny", "--task", "tagging", "--train", str(DATA / "tiny.conllu"), "--owner", "alice",
                         "--wait")
    dataset = Dataset.objects.get(name="ud tiny")
    assert (dataset.owner, dataset.status, dataset.format) == (alice, "valid", "conllu")
    assert f'dataset {dataset.pk} "ud tiny" (tagging, conllu) is valid' in out
    assert "train: 2 examples, 11 tokens; length p50 5, p90 6, p99 6, max 6; 8 labels" in out
    assert "dev: none uploaded; training splits 10% of train off (seed 13)" in out


@pytest.mark.parametrize(("task", "name", "text", "shown"), [
    ("forecasting", "waves.csv", None, "; columns load, temp, hour"),
    ("generation", "story.txt", "Once upon a time .\nThe end .\n", "train: 2 examples"),
])
def test_it_reports_the_tasks_whose_splits_have_neither_labels_nor_targets(alice, tmp_path, task, name, text, shown):
    path = tmp_path / name
    path.write_text(text or forecast_csv(), encoding="utf-8")
    out = import_dataset("data", "--task", task, "--train", str(path), "--owner", "alice", "--wait")
    assert Dataset.objects.get(name="data").status == "valid"
    assert "is valid" in out and shown in out


def test_it_imports_two_aligned_files_as_source_comma_target(alice):
    pair = f"{DATA / 'tiny.de'},{DATA / 'tiny.en'}"
    out = import_dataset("de-en", "--task", "translation", "--train", pair, "--dev", pair, "--owner", "alice", "--wait")
    dataset = Dataset.objects.get(name="de-en")
    assert (dataset.status, dataset.format) == ("valid", "parallel")
    assert set(dataset.files()) == {"train", "train_target", "dev", "dev_target"}
    assert "train: 3 examples, 19 tokens; length p50 6, p90 7, p99 7, max 7; 20 target tokens" in out


def test_it_fails_with_the_file_and_line_of_an_invalid_dataset(alice):
    with pytest.raises(CommandError, match=r'"ragged" \(tagging, columns\) is invalid: train, line 3: ragged row'):
        import_dataset("ragged", "--task", "tagging", "--train", str(DATA / "ragged.txt"), "--owner", "alice",
                       "--wait")
    assert Dataset.objects.get(name="ragged").status == "invalid"


def test_it_queues_validation_without_wait(alice, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks() as callbacks:
        out = import_dataset("sst", "--task", "classification", "--train", str(DATA / "tiny_sst.tsv"),
                             "--format", "tsv", "--owner", "alice")
    dataset = Dataset.objects.get(name="sst")
    assert "created, pending" in out
    assert dataset.status == "pending"
    assert run_queued_validations(callbacks) == [dataset.pk]
    dataset.refresh_from_db()
    assert dataset.status == "valid"


@pytest.mark.parametrize(("args", "message"), [
    (["--train", str(DATA / "tiny.conllu"), "--owner", "nobody"], "no user named 'nobody'"),
    (["--train", str(DATA / "missing.conllu"), "--owner", "alice"], "no such file"),
    (["--train", "a,b,c", "--owner", "alice"], "two aligned files as SOURCE,TARGET"),
    (["--train", str(DATA / "tiny.conllu"), "--format", "tsv", "--owner", "alice"], "format 'tsv' holds"),
])
def test_it_refuses_bad_arguments_and_stores_nothing(alice, args, message):
    with pytest.raises(CommandError, match=message):
        import_dataset("bad", "--task", "tagging", *args)
    assert not Dataset.objects.exists()


def test_it_names_the_limit_a_file_is_over(alice, settings):
    settings.RNNSERVICE_MAX_UPLOAD_LINES = 3
    with pytest.raises(CommandError, match="RNNSERVICE_MAX_UPLOAD_LINES"):
        import_dataset("big", "--task", "tagging", "--train", str(DATA / "tiny.conllu"), "--owner", "alice")
    assert not Dataset.objects.exists()
