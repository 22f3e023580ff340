"""Tests for the registry's management commands: promote and export_model."""
from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from apps.registry.models import Alias
from rnnservice.ml.artifacts import verify_version


def run(*args: str) -> str:
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def test_it_promotes_and_moves_an_alias(alice, make_version):
    make_version(alice)
    make_version(alice)
    assert run("promote", "sentiment", "1").strip() == "sentiment:production -> version 1"
    assert run("promote", "sentiment", "2").strip() == "sentiment:production -> version 2 (was version 1)"
    assert run("promote", "sentiment", "1", "--alias", "staging").strip() == "sentiment:staging -> version 1"
    assert dict(Alias.objects.values_list("name", "version__number")) == {"production": 2, "staging": 1}


def test_it_moves_an_alias_to_a_version_with_other_labels_only_with_confirm(alice, make_version):
    make_version(alice)
    make_version(alice, "sentiment", series=True)                       # another input kind, other labels
    run("promote", "sentiment", "1")
    with pytest.raises(CommandError, match=r"changes what 'production' \(version 1\) answers: the input kind "
                                           r"changes from tokens to values.*--confirm on the command line"):
        run("promote", "sentiment", "2")
    assert Alias.objects.get().version.number == 1
    assert run("promote", "sentiment", "2", "--confirm").strip() == "sentiment:production -> version 2 (was version 1)"


@pytest.mark.parametrize(("args", "message"), [
    (("nope", "1"), "no model named 'nope'"),
    (("sentiment", "5"), "model 'sentiment' has no version 5"),
    (("sentiment", "1", "--alias", "Bad Alias"), "is not a valid name"),
])
def test_it_refuses_a_promotion_it_cannot_make(alice, make_version, args, message):
    make_version(alice)
    with pytest.raises(CommandError, match=message):
        run("promote", *args)
    assert not Alias.objects.exists()


@pytest.mark.parametrize(("reference", "number"), [("sentiment", 2), ("sentiment@1", 1), ("sentiment:staging", 1)])
def test_it_exports_the_version_a_reference_names(alice, make_version, tmp_path, reference, number):
    make_version(alice)
    make_version(alice)
    run("promote", "sentiment", "1", "--alias", "staging")
    out = tmp_path / "exported"
    printed = run("export_model", reference, str(out))
    version = alice.registered_models.get().versions.get(number=number)
    assert f"sentiment version {number} (sha256 {version.sha256}) exported to {out}" in printed
    assert verify_version(out) == version.sha256


def test_it_exports_every_file_with_one_mode_whatever_the_stored_ones(alice, make_version, tmp_path):
    version = make_version(alice)
    (version.folder / "weights.safetensors").chmod(0o600)           # as safetensors wrote it before the fix
    out = tmp_path / "exported"
    run("export_model", "sentiment", str(out))
    modes = {path.name: path.stat().st_mode & 0o777 for path in out.iterdir()}
    plain = tmp_path / "plain"
    plain.write_text("")                                            # what this user's umask gives any new file
    assert set(modes) == {"config.json", "vocab.json", "weights.safetensors", "manifest.json", "model.onnx"}
    assert set(modes.values()) == {plain.stat().st_mode & 0o777}


def test_it_refuses_to_export_a_changed_artifact(alice, make_version, tmp_path):
    version = make_version(alice)
    with (version.folder / "weights.safetensors").open("r+b") as weights:
        weights.seek(-1, 2)
        weights.write(b"\x7f")
    with pytest.raises(CommandError, match="model 'sentiment' version 1 cannot be used: weights.safetensors has "
                                           "changed since it was saved"):
        run("export_model", "sentiment", str(tmp_path / "out"))
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(("reference", "message"), [
    ("sentiment@9", "model 'sentiment' has no version 9"),
    ("sentiment:canary", "model 'sentiment' has no alias 'canary'"),
    ("sentiment@", "is not MODEL, MODEL@VERSION or MODEL:ALIAS"),
])
def test_it_names_a_reference_it_cannot_resolve(alice, make_version, tmp_path, reference, message):
    make_version(alice)
    with pytest.raises(CommandError, match=message):
        run("export_model", reference, str(tmp_path / "out"))
