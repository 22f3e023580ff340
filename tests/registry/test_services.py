"""Tests for apps.registry.services and selectors: registering versions, aliases, resolving, exporting."""
from __future__ import annotations

import json
import shutil
import threading
from pathlib import Path

import pytest
from django.db import connection
from django.http import Http404

from apps.registry.artifacts import version_verify
from apps.registry.models import Alias, ModelVersion, RegisteredModel
from apps.registry.selectors import model_reference, version_resolve
from apps.registry.services import alias_delete, alias_set, version_create, version_export
from rnnservice.errors import ArtifactUnavailable, ServiceError
from rnnservice.ml.artifacts import sha256_file, verify_version
from rnnservice.ml.errors import ArtifactError
from rnnservice.ml.predict import Predictor
from tests.factories import DatasetFactory


def copy_of(tiny_model_dirs, tmp_path, task: str = "classification", name: str = "source") -> Path:
    source = tmp_path / name
    shutil.copytree(tiny_model_dirs[task], source)
    return source


def test_it_numbers_versions_1_2_3_and_moves_each_folder_into_the_store(alice, make_version, models_store):
    versions = [make_version(alice, "sentiment") for _ in range(3)]
    assert [version.number for version in versions] == [1, 2, 3]
    model = RegisteredModel.objects.get(name="sentiment")
    assert (model.owner, model.task) == (alice, "classification")
    for version in versions:
        assert version.artifact_path == f"sentiment/{version.number}"
        assert version.folder == models_store / "sentiment" / str(version.number)
        assert version.sha256 == sha256_file(version.folder / "manifest.json") == verify_version(version.folder)
    assert list(model.versions.order_by("number").values_list("number", flat=True)) == [1, 2, 3]


def test_it_records_metrics_info_and_dataset(alice, tiny_model_dirs, tmp_path, models_store):
    dataset = DatasetFactory(owner=alice, task="classification", format="tsv", files={"train": "tiny_sst.tsv"})
    source = copy_of(tiny_model_dirs, tmp_path)
    config = json.loads((source / "config.json").read_text())
    version = version_create(owner=alice, model_name="sst", task="classification", source_dir=source,
                             dataset=dataset)
    version.refresh_from_db()
    assert not source.exists()
    assert version.dataset == dataset
    assert version.metrics == config["metrics"] and "accuracy" in version.metrics
    assert version.info["labels"] == ["1", "0"]
    assert version.info["config"]["architecture"]["hidden_dim"] == 16
    assert {"history", "split", "best_epoch"} <= set(version.info)
    assert "format_version" not in version.info
    given = version_create(owner=alice, model_name="sst", task="classification",
                           source_dir=copy_of(tiny_model_dirs, tmp_path, name="again"), metrics={"accuracy": 0.5})
    assert given.metrics == {"accuracy": 0.5}


@pytest.mark.parametrize(("owner", "name", "task", "message", "field"), [
    ("bob", "sentiment", "classification", "the model name 'sentiment' is taken", "model_name"),
    ("alice", "Sentiment", "classification", "you have a model named 'sentiment'", "model_name"),
    ("alice", "sentiment", "tagging", "is a classification model", "task"),
    ("alice", "a b", "classification", "is not valid", "model_name"),
    ("alice", "../escape", "classification", "is not valid", "model_name"),
    ("alice", "-flag", "classification", "is not valid", "model_name"),
    ("alice", "x" * 101, "classification", "is not valid", "model_name"),
    ("alice", "Checkpoints", "classification", "is reserved", "model_name"),
    ("alice", "new", "summarisation", "task must be one of", "task"),
])
def test_it_refuses_a_version_it_cannot_register_and_keeps_the_folder(
        request, alice, bob, make_version, tiny_model_dirs, tmp_path, models_store, owner, name, task, message, field):
    make_version(alice, "sentiment")
    source = copy_of(tiny_model_dirs, tmp_path, task=task if task in tiny_model_dirs else "classification")
    with pytest.raises(ServiceError, match=message) as caught:
        version_create(owner=request.getfixturevalue(owner), model_name=name, task=task, source_dir=source)
    assert caught.value.extra["field"] == field
    assert verify_version(source)                                  # the caller still has its folder
    assert ModelVersion.objects.count() == RegisteredModel.objects.count() == 1
    assert sorted(path.name for path in models_store.iterdir()) == ["sentiment"]


def test_it_refuses_a_folder_that_fails_its_manifest(alice, tiny_model_dirs, tmp_path, models_store):
    source = copy_of(tiny_model_dirs, tmp_path)
    with (source / "weights.safetensors").open("ab") as weights:
        weights.write(b"\0")
    with pytest.raises(ArtifactError, match="has changed since it was saved"):
        version_create(owner=alice, model_name="sentiment", task="classification", source_dir=source)
    assert not RegisteredModel.objects.exists()
    assert not models_store.exists() or not any(models_store.iterdir())


def test_it_refuses_a_folder_of_another_task_and_a_dataset_of_another_task(alice, tiny_model_dirs, tmp_path):
    source = copy_of(tiny_model_dirs, tmp_path, task="tagging")
    with pytest.raises(ServiceError, match="holds a tagging model, not classification"):
        version_create(owner=alice, model_name="mixed", task="classification", source_dir=source)
    dataset = DatasetFactory(owner=alice, task="tagging")
    with pytest.raises(ServiceError, match="holds tagging data, not classification"):
        version_create(owner=alice, model_name="mixed", task="classification", dataset=dataset,
                       source_dir=copy_of(tiny_model_dirs, tmp_path, name="other"))
    assert not RegisteredModel.objects.exists()


def test_it_gives_the_folder_back_when_the_row_cannot_be_saved(alice, tiny_model_dirs, tmp_path, models_store):
    source = copy_of(tiny_model_dirs, tmp_path)
    with pytest.raises(TypeError, match="not JSON serializable"):
        version_create(owner=alice, model_name="sentiment", task="classification", source_dir=source,
                       metrics={"accuracy": object()})
    assert verify_version(source)
    assert not (models_store / "sentiment" / "1").exists()
    assert not ModelVersion.objects.exists()


def test_it_sets_aside_a_folder_that_has_no_row(alice, make_version, models_store, caplog):
    make_version(alice, "sentiment")
    orphan = models_store / "sentiment" / "2"
    orphan.mkdir()
    (orphan / "half-written").write_text("left by a process that died before its commit")
    version = make_version(alice, "sentiment")
    assert version.number == 2
    assert verify_version(version.folder) == version.sha256
    aside = [path for path in (models_store / "sentiment").iterdir() if path.name.startswith(".orphan-2-")]
    assert len(aside) == 1 and (aside[0] / "half-written").exists()
    assert "has no registered version" in caplog.text


def test_it_numbers_versions_registered_at_once_without_gaps_or_repeats(transactional_db, alice, make_version):
    errors: list[BaseException] = []

    def register() -> None:
        try:
            make_version(alice, "sentiment")
        except BaseException as exc:          # reported below, in the test's thread
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=register) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert sorted(ModelVersion.objects.values_list("number", flat=True)) == [1, 2, 3, 4]
    assert all(verify_version(version.folder) == version.sha256 for version in ModelVersion.objects.all())


def test_it_sets_moves_and_deletes_an_alias(alice, make_version):
    first, second = make_version(alice), make_version(alice)
    model = first.model
    alias = alias_set(model=model, alias="production", version_number=1)
    assert (alias.name, alias.version) == ("production", first)
    moved = alias_set(model=model, alias="production", version_number=2)
    assert moved.pk == alias.pk and moved.version == second
    alias_set(model=model, alias="staging", version_number=1)
    assert dict(model.aliases.values_list("name", "version__number")) == {"production": 2, "staging": 1}
    alias_delete(model=model, alias="staging")
    assert list(model.aliases.values_list("name", flat=True)) == ["production"]
    with pytest.raises(ServiceError, match="has no alias 'staging'"):
        alias_delete(model=model, alias="staging")


@pytest.mark.parametrize(("alias", "version", "message", "field"), [
    ("production", 3, "model 'sentiment' has no version 3", "version"),
    ("Production", 1, "is not a valid name", "alias"),
    ("1", 1, "is not a valid name", "alias"),
    ("with space", 1, "is not a valid name", "alias"),
    ("", 1, "is not a valid name", "alias"),
    ("a" * 51, 1, "is not a valid name", "alias"),
])
def test_it_refuses_a_bad_alias_or_version(alice, make_version, alias, version, message, field):
    model = make_version(alice).model
    with pytest.raises(ServiceError, match=message) as caught:
        alias_set(model=model, alias=alias, version_number=version)
    assert caught.value.extra["field"] == field
    assert not Alias.objects.exists()


def test_it_never_points_an_alias_at_another_models_version(alice, make_version):
    mine = make_version(alice, "mine")
    make_version(alice, "other")
    make_version(alice, "other")
    with pytest.raises(ServiceError, match="model 'mine' has no version 2"):
        alias_set(model=mine.model, alias="production", version_number=2)


def test_it_resolves_version_then_alias_then_production_then_newest(alice, make_version):
    model = make_version(alice).model
    for _ in range(3):
        make_version(alice)

    def resolve(**kwargs) -> int:
        return version_resolve(model=model, **kwargs).number
    assert resolve() == 4                                          # no production alias: the newest
    alias_set(model=model, alias="production", version_number=2)
    alias_set(model=model, alias="staging", version_number=3)
    assert resolve() == 2                                          # production beats newest
    assert resolve(alias="staging") == 3                           # a given alias beats production
    assert resolve(version=1, alias="staging") == 1                # a given version beats everything
    for kwargs, message in (({"version": 9}, "model 'sentiment' has no version 9"),
                            ({"alias": "canary"}, "model 'sentiment' has no alias 'canary'")):
        with pytest.raises(Http404, match=message):
            version_resolve(model=model, **kwargs)


def test_it_reads_command_line_references(alice, make_version):
    model = make_version(alice, "de-en_2", task="translation").model
    assert model_reference(reference="de-en_2") == (model, None, None)
    assert model_reference(reference="de-en_2@12") == (model, 12, None)
    assert model_reference(reference="de-en_2:staging") == (model, None, "staging")
    for bad in ("de-en_2@", "de-en_2@x", "de-en_2:Staging", "de-en_2@1:staging", "", "../x"):
        with pytest.raises(ServiceError, match="is not MODEL, MODEL@VERSION or MODEL:ALIAS"):
            model_reference(reference=bad)
    with pytest.raises(Http404, match="no model named 'nope'"):
        model_reference(reference="nope@1")


def test_it_exports_a_verified_copy_that_loads(alice, make_version, tmp_path):
    version = make_version(alice, task="tagging")
    out = version_export(version=version, out_dir=tmp_path / "out" / "ner-1")
    assert verify_version(out) == version.sha256
    assert sorted(path.name for path in out.iterdir()) == sorted(path.name for path in version.folder.iterdir())
    assert Predictor.load(out).predict(["Anna visited Paris"])[0]["tokens"] == ["Anna", "visited", "Paris"]
    assert not [path for path in out.parent.iterdir() if path.name.startswith(".")]   # no partial copy left


def test_it_refuses_to_export_over_files_or_from_a_changed_artifact(alice, make_version, tmp_path):
    version = make_version(alice)
    full = tmp_path / "full"
    full.mkdir()
    (full / "keep.txt").write_text("mine")
    with pytest.raises(ServiceError, match="is not an empty folder"):
        version_export(version=version, out_dir=full)
    assert [path.name for path in full.iterdir()] == ["keep.txt"]
    (version.folder / "vocab.json").unlink()
    with pytest.raises(ArtifactUnavailable, match="model 'sentiment' version 1 cannot be used: vocab.json is missing"):
        version_export(version=version, out_dir=tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_it_tells_a_manifest_that_is_not_the_recorded_one(alice, make_version):
    version = make_version(alice)
    manifest = version.folder / "manifest.json"
    manifest.write_text(manifest.read_text() + "\n")                # still lists the right files: verifies alone
    assert verify_version(version.folder) != version.sha256
    with pytest.raises(ArtifactUnavailable, match="manifest.json is not the one recorded at registration") as caught:
        version_verify(version=version)
    assert caught.value.status == 503
    assert caught.value.extra == {"model": "sentiment", "version": 1}
    assert str(version.folder) not in caught.value.message
