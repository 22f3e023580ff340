"""Tests for the artifact bucket (apps/registry/bucket.py, version_fetch): versions uploaded as they are registered,
downloaded whole and checked by a machine that lacks them; against moto's S3 server through boto3."""
from __future__ import annotations

import runpy
import shutil
from pathlib import Path

import pytest
from botocore.exceptions import ClientError
from django.core.exceptions import ImproperlyConfigured

from apps.registry.artifacts import version_fetch, version_verify
from apps.registry.models import ModelVersion
from apps.registry.services import version_create, version_export
from rnnservice.errors import ArtifactUnavailable
from rnnservice.ml.artifacts import FILES, MANIFEST, verify_version
from rnnservice.ml.runtime import ONNX_FILE

VERSION_FILES = sorted((*FILES, MANIFEST, ONNX_FILE))      # a trained classifier exports to ONNX
SETTINGS = Path(__file__).resolve().parents[2] / "rnnservice" / "settings.py"


@pytest.fixture
def other_machine(settings, tmp_path):
    """Switch to a machine of its own: the same database and bucket, an empty MODELS_STORE."""
    def switch():
        settings.MODELS_STORE = tmp_path / f"machine-{len(list(tmp_path.glob('machine-*')))}"
        settings.MODELS_STORE.mkdir()
        return settings.MODELS_STORE
    return switch


def test_it_uploads_each_file_of_a_version_as_it_is_registered(alice, make_version, s3_bucket):
    version = make_version(alice, "sentiment")
    assert s3_bucket.keys("models/") == [f"models/sentiment/1/{name}" for name in VERSION_FILES]
    for name in VERSION_FILES:
        stored = s3_bucket.client.get_object(Bucket=s3_bucket.name, Key=f"models/sentiment/1/{name}")
        assert stored["Body"].read() == (version.folder / name).read_bytes()


def test_a_machine_without_the_folder_downloads_it_whole_and_checked(alice, make_version, s3_bucket, other_machine):
    version = make_version(alice, "sentiment")
    store = other_machine()
    folder = version_fetch(version=version)
    assert folder == store / "sentiment" / "1"
    assert verify_version(folder) == version.sha256
    assert sorted(path.name for path in folder.iterdir()) == VERSION_FILES
    assert [path.name for path in folder.parent.iterdir()] == ["1"]          # no temporary folder left behind
    assert version_verify(version=version) == folder                          # export and readiness checks too


def test_a_changed_object_in_the_bucket_is_refused_naming_the_version(alice, make_version, s3_bucket, other_machine):
    version = make_version(alice, "sentiment")
    key = "models/sentiment/1/weights.safetensors"
    s3_bucket.client.put_object(Bucket=s3_bucket.name, Key=key, Body=b"not the registered weights")
    store = other_machine()
    with pytest.raises(ArtifactUnavailable) as refused:
        version_fetch(version=version)
    assert refused.value.extra == {"model": "sentiment", "version": 1}
    assert "in the artifact bucket, weights.safetensors has changed" in refused.value.message
    assert str(store) not in refused.value.message
    assert not (store / "sentiment" / "1").exists()
    assert list((store / "sentiment").iterdir()) == []                      # the bad download was removed


def test_a_manifest_that_is_not_the_registered_one_is_refused(alice, make_version, s3_bucket, other_machine,
                                                               tiny_model_dirs):
    version = make_version(alice, "sentiment")
    for name in VERSION_FILES:       # a whole, self-consistent version, but another one than was registered
        s3_bucket.client.put_object(Bucket=s3_bucket.name, Key=f"models/sentiment/1/{name}",
                                    Body=(tiny_model_dirs["tagging"] / name).read_bytes())
    other_machine()
    with pytest.raises(ArtifactUnavailable, match=f"in the artifact bucket, {MANIFEST} is not the one recorded"):
        version_fetch(version=version)


def test_a_file_missing_from_the_bucket_is_refused_naming_it(alice, make_version, s3_bucket, other_machine):
    version = make_version(alice, "sentiment")
    s3_bucket.client.delete_object(Bucket=s3_bucket.name, Key="models/sentiment/1/vocab.json")
    other_machine()
    with pytest.raises(ArtifactUnavailable, match="vocab.json is missing from the artifact bucket"):
        version_fetch(version=version)


def test_a_failed_upload_registers_nothing_and_gives_the_folder_back(alice, tiny_model_dirs, tmp_path, s3_bucket,
                                                                    models_store):
    source = tmp_path / "incoming"
    shutil.copytree(tiny_model_dirs["classification"], source)
    s3_bucket.client.delete_bucket(Bucket=s3_bucket.name)                   # the bucket is gone
    with pytest.raises(ClientError):
        version_create(owner=alice, model_name="sentiment", task="classification", source_dir=source)
    assert not ModelVersion.objects.exists()
    assert verify_version(source)                                            # the caller still has its folder
    assert not (models_store / "sentiment" / "1").exists()


def test_export_on_another_machine_downloads_the_version_first(alice, make_version, s3_bucket, other_machine,
                                                               tmp_path):
    version = make_version(alice, "sentiment")
    other_machine()
    exported = version_export(version=version, out_dir=tmp_path / "exported")
    assert verify_version(exported) == version.sha256


def test_without_a_bucket_a_missing_folder_stays_missing(alice, make_version, other_machine):
    version = make_version(alice, "sentiment")
    store = other_machine()
    assert version_fetch(version=version) == store / "sentiment" / "1"
    assert not (store / "sentiment").exists()
    with pytest.raises(ArtifactUnavailable, match="manifest.json is missing"):
        version_verify(version=version)


@pytest.mark.parametrize("url", ["https://bucket/models", "s3:///models", "/var/lib/models"])
def test_a_store_url_that_names_no_s3_bucket_is_refused(monkeypatch, tmp_path, url):
    monkeypatch.setenv("RNNSERVICE_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("MODELS_STORE_URL", url)
    with pytest.raises(ImproperlyConfigured, match="MODELS_STORE_URL=.*: use s3://bucket or s3://bucket/prefix"):
        runpy.run_path(str(SETTINGS))
