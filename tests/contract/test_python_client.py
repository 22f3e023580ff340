"""The API contract as an application developer meets it: openapi-python-client (requirements-dev.txt) generates
a client from the live /api/schema/, and the README's path runs with that code only (readme_path.py) against a
live server: token, upload, launch, poll, alias, predict for each task and input kind, evaluate, a 400 and a 404
as typed errors. `mypy --strict` passes on readme_path.py, which reads the outputs' fields by name."""
from __future__ import annotations

import importlib
import subprocess
import sys
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType

import pytest

from apps.datasets.tasks import validate_dataset
from apps.training.tasks import train_model
from tests.factories import DATA

HERE = Path(__file__).parent
BIN = Path(sys.executable).parent
CONFIG = "package_name_override: rnnservice_client\npost_hooks: []\n"      # no formatter run: nothing reads it


@pytest.fixture(scope="session")
def generated(live_server, tmp_path_factory) -> Iterator[Path]:
    """The folder holding `rnnservice_client`, generated from the schema the live server serves; importable."""
    root = tmp_path_factory.mktemp("generated")
    with urllib.request.urlopen(f"{live_server.url}/api/schema/?format=json", timeout=60) as answer:
        (root / "schema.json").write_bytes(answer.read())
    (root / "config.yaml").write_text(CONFIG)
    result = subprocess.run([BIN / "openapi-python-client", "generate", "--path", root / "schema.json", "--meta",
                             "none", "--output-path", root / "rnnservice_client", "--config", root / "config.yaml"],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Warning" not in result.stdout + result.stderr, result.stdout + result.stderr   # nothing left out
    sys.path.insert(0, str(root))
    yield root
    sys.path.remove(str(root))
    for name in [name for name in sys.modules if name.startswith(("rnnservice_client", "tests.contract.readme"))]:
        del sys.modules[name]


@pytest.fixture
def path(generated) -> ModuleType:
    return importlib.import_module("tests.contract.readme_path")


@pytest.fixture
def work(monkeypatch) -> Callable[[], None]:
    """The worker's part: the validations and training jobs the API queued run here, as the worker runs them."""
    queued: list[tuple[object, int]] = []
    monkeypatch.setattr(validate_dataset, "delay", lambda pk: queued.append((validate_dataset, pk)))
    monkeypatch.setattr(train_model, "delay", lambda pk: queued.append((train_model, pk)))

    def run() -> None:
        while queued:
            task, pk = queued.pop(0)
            task.apply(args=[pk])
    return run


def test_the_readme_path_runs_with_the_generated_client_only(path, live_server, alice, models_store, work,
                                                             make_version):
    client = path.log_in(live_server.url, "alice", "password")
    uploaded = path.upload(client, "reviews", DATA / "tiny_sst.tsv", DATA / "tiny_sst.tsv")
    dataset = path.wait_until_valid(client, uploaded, work)
    assert dataset.statistics.splits["train"].examples > 0 and dataset.sha256["train"]
    job = path.train(client, dataset, "reviews", work)
    assert path.promote(client, "reviews", job.version.number).version == 1
    shown = path.show(client, "reviews")
    assert (shown.aliases["production"], sorted(shown.versions[0].labels), shown.versions[0].config.task.value) == (
        1, ["0", "1"], "classification")
    labels = path.classify(client, "reviews", ["a witty , charming movie .", "dull ."])
    assert [label for label, _ in labels] and all(label in ("0", "1") and 0 <= p <= 1 for label, p in labels)
    scored = path.score(client, "reviews", dataset)
    assert scored.examples > 0 and 0 <= scored.metrics["accuracy"] <= 1

    for task in ("tagging", "translation"):
        make_version(alice, task=task)
    for task in ("classification", "tagging"):
        make_version(alice, task=task, series=True)
    assert [tag for _, tag, _ in path.tag(client, "ner", ["EU", "rejects", "German", "call"])]
    assert isinstance(path.translate(client, "de-en", "Ein Mann schläft.", beam_size=2), str)
    assert path.classify_series(client, "heartbeats", [[0.0, 0.1], [1.0, 0.0], [0.0, -0.1]]) in ("sine", "square")
    assert set(path.tag_series(client, "beats", [0.9, 0.1, 0.7])) <= {"beat", "rest"}

    refused = path.refused_prediction(client, "reviews")
    assert (refused.field, refused.index) == ("inputs", 1) and "inputs[1]" in refused.detail
    assert path.missing_model(client).detail == "no model named 'no-such-model'"


def test_mypy_strict_passes_on_code_that_reads_the_outputs_by_name(generated, tmp_path):
    result = subprocess.run([BIN / "mypy", "--strict", "--no-incremental", "--cache-dir", tmp_path / "cache",
                             "--python-version", f"{sys.version_info.major}.{sys.version_info.minor}",
                             HERE / "readme_path.py"], capture_output=True, text=True, timeout=600,
                            env={"MYPYPATH": str(generated), "PATH": str(BIN)})
    assert result.returncode == 0, result.stdout + result.stderr
