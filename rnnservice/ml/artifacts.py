"""A model version on disk: config.json, vocab.json, weights.safetensors, model.onnx where the model exports and
model.int8.onnx where it was quantised (rnnservice/ml/runtime.py), manifest.json (sha256 of each)."""
from __future__ import annotations

import hashlib
import json
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import nn

from rnnservice.ml.config import RunConfig, config_from_dict
from rnnservice.ml.data import Codec, codec_from_dict
from rnnservice.ml.errors import ArtifactError, MLError
from rnnservice.ml.models import build_model, vocab_sizes
from rnnservice.ml.runtime import INT8_FILE, ONNX_FILE, DevCheck, export

FORMAT_VERSION = 1
FILES = ("config.json", "vocab.json", "weights.safetensors")
RUNTIME_FILES = (ONNX_FILE, INT8_FILE)              # in a version where its export made them
MANIFEST = "manifest.json"


@dataclass
class ModelVersion:
    model: nn.Module
    codec: Codec
    config: RunConfig
    info: dict[str, Any] = field(default_factory=dict)   # metrics, training history, data split...
    sha256: str = ""                                     # of manifest.json: names the whole version


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def save_version(folder: str | Path, *, model: nn.Module, codec: Codec, config: RunConfig,
                 info: dict[str, Any] | None = None, dev_check: DevCheck | None = None) -> str:
    """Write a version folder and return its sha256. The folder appears whole or not at all. `dev_check` scores
    the int8 graph that `training.quantize` asks for."""
    folder = Path(folder)
    if folder.exists() and any(folder.iterdir()):
        raise ArtifactError(f"{folder} already holds files; a model version is never overwritten")
    tmp = folder.with_name(f".{folder.name}.partial")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    # model.onnx, when it exports and passes its check; model.int8.onnx with training.quantize
    runtime = export(model, codec, config.task, tmp, quantize=config.training.quantize, dev_check=dev_check)
    document = {"format_version": FORMAT_VERSION, "task": config.task, "config": config.to_dict(),
                "sizes": vocab_sizes(codec), **(info or {}), "runtime": runtime}
    (tmp / "config.json").write_text(json.dumps(document, indent=2, sort_keys=True))
    (tmp / "vocab.json").write_text(json.dumps(codec.to_dict(), ensure_ascii=False))
    # Tied weights share memory, which safetensors refuses: store independent copies.
    weights = {k: v.detach().to("cpu").contiguous().clone() for k, v in model.state_dict().items()}
    save_file(weights, tmp / "weights.safetensors", metadata={"task": config.task})
    names = [*FILES, *(name for name in RUNTIME_FILES if (tmp / name).is_file())]
    manifest = {"format_version": FORMAT_VERSION, "files": {name: sha256_file(tmp / name) for name in names}}
    (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True))
    # Every file with the mode of a plain write (the umask's): safetensors writes its file for its owner only, which
    # a web server running as another user than the worker could not read.
    mode = (tmp / "config.json").stat().st_mode & 0o777
    for name in (*names, MANIFEST):
        os.chmod(tmp / name, mode)
    if folder.exists():
        folder.rmdir()
    os.replace(tmp, folder)
    return sha256_file(folder / MANIFEST)


def verify_version(folder: str | Path) -> str:
    """Check every file against the manifest; return the version's sha256 or raise ArtifactError, also for a file
    or folder that cannot be read (its permissions), which is as unusable as a missing one."""
    folder = Path(folder)
    try:
        return _verify(folder)
    except OSError as exc:
        raise ArtifactError(f"{exc.filename or folder} cannot be read: {exc.strerror or exc}") from exc


def _verify(folder: Path) -> str:
    if not (folder / MANIFEST).is_file():
        raise ArtifactError(f"{folder}: {MANIFEST} is missing; this is not a model version folder")
    try:
        manifest = json.loads((folder / MANIFEST).read_text())
        files = manifest["files"]
    except (ValueError, KeyError, TypeError) as exc:
        raise ArtifactError(f"{folder / MANIFEST} cannot be read: {exc}") from exc
    for name in (*FILES, *(name for name in files if name in RUNTIME_FILES)):      # where they were saved
        path = folder / name
        if name not in files:
            raise ArtifactError(f"{folder / MANIFEST} does not list {name}")
        if not path.is_file():
            raise ArtifactError(f"{path} is missing")
        if sha256_file(path) != files[name]:
            raise ArtifactError(f"{path} has changed since it was saved: its sha256 differs from {MANIFEST}")
    return sha256_file(folder / MANIFEST)


def load_version(folder: str | Path, *, device: str | torch.device = "cpu") -> ModelVersion:
    """Verify the manifest, then rebuild the model from JSON and safetensors. Nothing is unpickled."""
    folder = Path(folder)
    sha = verify_version(folder)
    try:
        document = json.loads((folder / "config.json").read_text())
        if document.get("format_version") != FORMAT_VERSION:
            raise ArtifactError(f"{folder}: format_version {document.get('format_version')!r} is not "
                                f"{FORMAT_VERSION}")
        config = config_from_dict(document["config"])
        codec = codec_from_dict(json.loads((folder / "vocab.json").read_text(encoding="utf-8")))
        model = build_model(config, vocab_sizes(codec))
        model.load_state_dict(load_file(folder / "weights.safetensors", device=str(device)))
    except ArtifactError:
        raise
    except OSError as exc:
        raise ArtifactError(f"{exc.filename or folder} cannot be read: {exc.strerror or exc}") from exc
    except (MLError, ValueError, KeyError, TypeError, RuntimeError, SafetensorError) as exc:
        raise ArtifactError(f"{folder} cannot be loaded: {type(exc).__name__}: {exc}") from exc
    info = {k: v for k, v in document.items() if k not in ("config", "format_version")}
    return ModelVersion(model.to(device).eval(), codec, config, info, sha)
