"""Tests for rnnservice.ml.artifacts: a saved version predicts the same, a changed file is caught, no pickle."""
from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from rnnservice.ml.artifacts import load_version, save_version, verify_version
from rnnservice.ml.data import codec_from_dict
from rnnservice.ml.errors import ArtifactError
from rnnservice.ml.formats import ClassificationExample
from rnnservice.ml.pipeline import train
from rnnservice.ml.predict import Predictor

PACKAGE = Path(__file__).parents[2] / "rnnservice"
INPUTS = {
    "tagging": ["Anna Schmidt visited Rome .", {"tokens": ["Li", "Wei", "left", "Paris"]}, "Omar saw Berlin"],
    "classification": ["A great soup, really.", "An awful book.", {"tokens": ["a", "lovely", "movie"]}],
    "translation": ["der Hund schläft.", "die Katze liest im Park.", "ein Mann singt zu Hause."],
}


@pytest.fixture(scope="module")
def saved(trained, tmp_path_factory) -> dict[str, Path]:
    """Each task's tiny model saved once as a version folder."""
    root = tmp_path_factory.mktemp("versions")
    for task, result in trained.items():
        result.save(root / task)
    return {task: root / task for task in trained}


def tampered_copy(folder: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "copy"
    copy.mkdir()
    for file in folder.iterdir():
        (copy / file.name).write_bytes(file.read_bytes())
    return copy


@pytest.mark.parametrize("task", ["tagging", "classification", "translation"])
def test_it_loads_a_saved_version_that_predicts_the_same(trained, saved, task):
    result = trained[task]
    options = {"beam_size": 3, "n_best": 2} if task == "translation" else {}

    before = Predictor(result.model, result.codec, result.config).predict(INPUTS[task], **options)
    version = load_version(saved[task])
    after = Predictor(version.model, version.codec, version.config).predict(INPUTS[task], **options)

    assert after == before
    assert version.config == result.config
    assert version.sha256 == verify_version(saved[task])
    assert version.info["metrics"] == result.metrics and version.info["split"] == result.split


def test_it_saves_and_loads_a_classifier_with_character_features(tiny_config, examples, tmp_path):
    result = train(tiny_config("classification", architecture={"char_dim": 4}), examples("classification"))
    result.save(tmp_path / "chars")

    version = load_version(tmp_path / "chars")

    assert version.codec.chars is not None and version.model.encoder.chars is not None
    assert (Predictor(version.model, version.codec, version.config).predict(INPUTS["classification"])
            == Predictor(result.model, result.codec, result.config).predict(INPUTS["classification"]))


def test_it_loads_a_classifier_saved_before_character_features_existed(trained):
    saved = trained["classification"].codec.to_dict()
    del saved["chars"]                                       # the vocabularies file of an older version

    codec = codec_from_dict(saved)

    assert codec.chars is None and "chars" not in codec.collate([codec.encode(ClassificationExample("ok", None))])


def test_it_writes_exactly_the_four_files_and_the_onnx_graph(saved):
    names = sorted(p.name for p in saved["tagging"].iterdir())

    assert names == ["config.json", "manifest.json", "model.onnx", "vocab.json", "weights.safetensors"]
    manifest = json.loads((saved["tagging"] / "manifest.json").read_text())
    assert sorted(manifest["files"]) == ["config.json", "model.onnx", "vocab.json", "weights.safetensors"]
    assert sorted(p.name for p in saved["translation"].iterdir()) == [      # not exported: the four alone
        "config.json", "manifest.json", "vocab.json", "weights.safetensors"]


def test_it_keeps_a_translation_bpe_vocabulary_small(trained):
    codec = trained["translation"].codec

    assert codec.source_tokenizer.kind == codec.target_tokenizer.kind == "bpe"
    assert 10 < len(codec.target) <= 200 + 4


def test_it_returns_the_sha256_of_the_manifest_on_save(trained, tmp_path):
    result = trained["classification"]

    sha = save_version(tmp_path / "v1", model=result.model, codec=result.codec, config=result.config)

    assert re.fullmatch(r"[0-9a-f]{64}", sha)
    assert load_version(tmp_path / "v1").sha256 == sha


@pytest.mark.parametrize("name", ["weights.safetensors", "vocab.json", "config.json"])
def test_it_refuses_a_version_whose_file_changed_by_one_byte(saved, tmp_path, name):
    folder = tampered_copy(saved["tagging"], tmp_path)
    data = bytearray((folder / name).read_bytes())
    data[len(data) // 2] ^= 0x01
    (folder / name).write_bytes(bytes(data))

    with pytest.raises(ArtifactError, match=re.escape(name)):
        load_version(folder)


@pytest.mark.parametrize("name", ["config.json", "vocab.json", "weights.safetensors", "manifest.json"])
def test_it_refuses_a_version_with_a_missing_file(saved, tmp_path, name):
    folder = tampered_copy(saved["classification"], tmp_path)
    (folder / name).unlink()

    with pytest.raises(ArtifactError, match=re.escape(name)):
        load_version(folder)


def test_it_refuses_to_save_into_a_folder_that_holds_files(trained, tmp_path):
    result = trained["classification"]
    (tmp_path / "notes.txt").write_text("mine")

    with pytest.raises(ArtifactError, match="already holds files"):
        save_version(tmp_path, model=result.model, codec=result.codec, config=result.config)
    assert [p.name for p in tmp_path.iterdir()] == ["notes.txt"]


def test_it_saves_into_an_existing_empty_folder(trained, tmp_path):
    result = trained["classification"]
    (tmp_path / "v2").mkdir()

    save_version(tmp_path / "v2", model=result.model, codec=result.codec, config=result.config)

    assert (tmp_path / "v2" / "manifest.json").is_file()
    assert [p.name for p in tmp_path.iterdir()] == ["v2"]          # no partial folder left behind


def test_it_never_unpickles_anything_in_the_project():
    sources = sorted(PACKAGE.rglob("*.py"))
    pattern = re.compile(r"\btorch\.load\s*\(|\bpickle\.loads?\s*\(|\bimport\s+pickle\b|\bfrom\s+pickle\b")

    offenders = [str(p) for p in sources if pattern.search(p.read_text(encoding="utf-8"))]

    assert len(sources) > 10
    assert offenders == []


def test_it_writes_every_file_with_the_same_mode_a_plain_write_gets(saved):
    folder = saved["classification"]
    modes = {name: (folder / name).stat().st_mode & 0o777 for name in ("config.json", "vocab.json",
                                                                        "weights.safetensors", "manifest.json")}
    assert len(set(modes.values())) == 1, modes        # safetensors alone wrote 0600: another user could not read it


@pytest.mark.parametrize("unreadable", ["weights.safetensors", "manifest.json", "."])
def test_it_refuses_a_file_or_folder_it_cannot_read_as_an_artifact_error(saved, unreadable):
    # Read by another user than the files' owner, who cannot: root reads anything, so the check runs as nobody.
    base = Path(tempfile.mkdtemp(prefix="unreadable-"))
    base.chmod(0o755)
    folder = base / "1"
    shutil.copytree(saved["classification"], folder)
    (folder / unreadable).chmod(0o700 if unreadable == "." else 0o600)
    check = ("import os, sys\n"
             "from rnnservice.ml.artifacts import verify_version\nfrom rnnservice.ml.errors import ArtifactError\n"
             "if os.geteuid() == 0:\n    os.setgid(65534); os.setuid(65534)\n"      # imported first: root's Python
             "try:\n    verify_version(sys.argv[1])\nexcept ArtifactError as exc:\n    print('ArtifactError:', exc)\n")
    try:
        done = subprocess.run([sys.executable, "-c", check, str(folder)], capture_output=True, text=True,
                              cwd=Path(__file__).resolve().parents[2], timeout=120)
    finally:
        shutil.rmtree(base)
    assert done.stdout.startswith("ArtifactError:"), done.stderr
    assert "cannot be read: Permission denied" in done.stdout
