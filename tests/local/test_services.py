"""Tests for apps/local/services.py: the demo user and data sets, made once and then kept."""
from __future__ import annotations

import runpy
import stat

import pytest
from django.contrib.auth import get_user_model

from apps.datasets.models import Dataset
from apps.datasets.tasks import validate_dataset
from apps.local.services import DEMO_DATASETS, DEMO_DIR, demo_bootstrap
from rnnservice.ml.tasks import TASKS


@pytest.fixture
def password_file(tmp_path):
    return tmp_path / "home" / "demo-password.txt"


def test_it_makes_a_demo_superuser_and_a_valid_data_set_per_task_once(db, password_file):
    first = demo_bootstrap(password_file=password_file, queue_validation=False)

    user = get_user_model().objects.get(username="demo")
    assert (first.user, first.created_user) == (user, True)
    assert user.is_staff and user.is_superuser                     # the admin shows everything
    assert first.password == password_file.read_text().strip()
    assert len(first.password) >= 16 and user.check_password(first.password)
    assert stat.S_IMODE(password_file.stat().st_mode) == 0o600
    assert first.imported == ["demo-ner", "demo-sentiment", "demo-de-en", "demo-waves", "demo-load", "demo-names"]
    datasets = Dataset.objects.filter(owner=user).order_by("pk")
    assert [(d.name, d.task, d.format, d.status) for d in datasets] == [
        ("demo-ner", "tagging", "columns", "valid"), ("demo-sentiment", "classification", "tsv", "valid"),
        ("demo-de-en", "translation", "parallel", "valid"), ("demo-waves", "classification", "ucr", "valid"),
        ("demo-load", "forecasting", "timeseries", "valid"),
        ("demo-names", "generation", "tsv", "valid")]
    assert [d.pk for d in first.datasets] == [d.pk for d in datasets]
    for dataset in datasets[:4]:
        assert dataset.statistics["dev_split"] == {"dev": "given"}
        assert dataset.statistics["splits"]["train"]["examples"] >= 80
    load = datasets[4]                                # one series; its dev split is its end, by time
    assert load.statistics["dev_split"] == {"dev": "time", "dev_fraction": 0.1}
    assert load.statistics["splits"]["train"]["columns"] == ["temperature", "load"]
    assert load.statistics["splits"]["train"]["frames"] == 8 * 7 * 24
    assert set(datasets[0].statistics["splits"]["train"]["labels"]) == {
        "O", "B-PER", "I-PER", "B-LOC", "I-LOC", "B-ORG", "I-ORG", "B-MISC"}
    waves = datasets[3]
    assert waves.input == "values"
    assert {key: waves.statistics["splits"]["train"][key] for key in ("examples", "features", "labels")} == {
        "examples": 150, "features": 1, "labels": {"sine": 50, "square": 50, "sawtooth": 50}}
    assert waves.statistics["splits"]["dev"]["length"]["max"] == 60
    names = datasets[5]
    assert names.statistics["splits"]["train"]["labels"] == {
        "Russian": 60, "Japanese": 60, "Italian": 60, "Irish": 60, "German": 60}

    second = demo_bootstrap(password_file=password_file, queue_validation=False)

    assert (second.user, second.created_user, second.password) == (user, False, first.password)
    assert second.imported == []
    assert [d.pk for d in second.datasets] == [d.pk for d in datasets]
    assert Dataset.objects.count() == len(DEMO_DATASETS) and get_user_model().objects.count() == 1
    assert password_file.read_text().strip() == first.password


def test_it_takes_the_password_given_and_sets_it_on_an_existing_demo_user(db, password_file):
    setup = demo_bootstrap(password_file=password_file, password="first-secret-1", queue_validation=False)
    assert setup.password == "first-secret-1" and setup.user.check_password("first-secret-1")
    assert not password_file.exists()                    # nothing to keep: the caller has it

    again = demo_bootstrap(password_file=password_file, password="second-secret-2", queue_validation=False)

    again.user.refresh_from_db()
    assert (again.created_user, again.password) == (False, "second-secret-2")
    assert again.user.check_password("second-secret-2")


def test_it_does_not_claim_to_know_a_password_changed_since(db, password_file):
    setup = demo_bootstrap(password_file=password_file, queue_validation=False)
    setup.user.set_password("changed-in-the-admin")
    setup.user.save()

    again = demo_bootstrap(password_file=password_file, queue_validation=False)

    assert again.password is None
    again.user.refresh_from_db()
    assert again.user.check_password("changed-in-the-admin")


def test_it_queues_validation_and_queues_it_again_for_a_demo_data_set_still_pending(
        db, password_file, monkeypatch, django_capture_on_commit_callbacks):
    sent: list[int] = []
    monkeypatch.setattr(validate_dataset, "delay", sent.append)

    with django_capture_on_commit_callbacks(execute=True):
        setup = demo_bootstrap(password_file=password_file)
    ids = [dataset.pk for dataset in setup.datasets]
    assert sent == ids
    assert {dataset.status for dataset in setup.datasets} == {"pending"}
    Dataset.objects.filter(pk=ids[0]).update(status="valid")

    with django_capture_on_commit_callbacks(execute=True):
        again = demo_bootstrap(password_file=password_file)

    assert again.imported == []
    assert sent == ids + ids[1:]                          # the valid one is left alone
    assert Dataset.objects.count() == len(DEMO_DATASETS)


def test_every_task_has_a_demo_data_set():
    assert {demo.task for demo in DEMO_DATASETS} == set(TASKS)


@pytest.mark.parametrize(("script", "names"), [("make_waves.py", ("waves-train.tsv", "waves-dev.tsv")),
                                               ("make_names.py", ("names-train.tsv", "names-dev.tsv"))])
def test_the_made_demo_files_are_what_their_script_writes(tmp_path, monkeypatch, script, names):
    """The committed files are the script's output, byte for byte: it says how they were made."""
    module = runpy.run_path(str(DEMO_DIR / script))
    monkeypatch.setitem(module["main"].__globals__, "HERE", tmp_path)
    module["main"]()
    for name in names:
        assert (tmp_path / name).read_bytes() == (DEMO_DIR / name).read_bytes()


def test_the_demo_load_is_what_demo_make_load_writes(tmp_path, monkeypatch):
    module = runpy.run_path(str(DEMO_DIR / "make_load.py"))
    monkeypatch.setitem(module["main"].__globals__, "HERE", tmp_path)
    module["main"]()
    assert (tmp_path / "load.csv").read_bytes() == (DEMO_DIR / "load.csv").read_bytes()
