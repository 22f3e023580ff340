"""Tests for `python -m rnnservice.ml`: train, evaluate and predict in a subprocess on the tiny files in tests/data."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from tests.trained import forecast_csv

ROOT = Path(__file__).parents[2]
DATA = ROOT / "tests" / "data"
TINY = {"architecture": {"embed_dim": 8, "hidden_dim": 16, "num_layers": 1, "dropout": 0.1},
        "training": {"batch_size": 2}}


def cli(*args: str | Path) -> subprocess.CompletedProcess:
    """Run the command line with stdout and stderr piped, as a script or a CI job would."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}      # tiny models; a busy machine makes threads slow
    return subprocess.run([sys.executable, "-m", "rnnservice.ml", *map(str, args)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)


def json_lines(stdout: str) -> list[dict]:
    return [json.loads(line) for line in stdout.splitlines() if line.strip()]


def write_config(folder: Path, data: dict) -> Path:
    path = folder / "config.json"
    path.write_text(json.dumps(data))
    return path


@pytest.fixture(scope="module")
def tagger(tmp_path_factory) -> tuple[Path, subprocess.CompletedProcess]:
    folder = tmp_path_factory.mktemp("tagger")
    config = write_config(folder, {**TINY, "architecture": {**TINY["architecture"], "char_dim": 4}})
    run = cli("train", "--task", "tagging", "--train", DATA / "tiny_ner.txt", "--config", config, "--epochs", "2",
              "--device", "cpu", "--out", folder / "version")
    assert run.returncode == 0, run.stderr
    return folder / "version", run


@pytest.fixture(scope="module")
def translator(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("translator")
    config = write_config(folder, {**TINY, "tokenizer": {"bpe_vocab_size": 100}})
    run = cli("train", "--task", "translation", "--train", f"{DATA / 'tiny.de'},{DATA / 'tiny.en'}",
              "--config", config, "--epochs", "2", "--device", "cpu", "--out", folder / "version")
    assert run.returncode == 0, run.stderr
    return folder / "version"


def test_it_prints_one_json_line_per_epoch_and_writes_the_version(tagger):
    version, run = tagger
    rows = json_lines(run.stdout)

    epochs, last = rows[:-1], rows[-1]
    assert [row["epoch"] for row in epochs] == [1, 2]
    for row in epochs:
        assert {"epoch", "train_loss", "tokens_per_s", "seconds", "dev_accuracy", "dev_entity_f1"} <= row.keys()
    assert last["saved"] == str(version) and len(last["sha256"]) == 64
    assert sorted(p.name for p in version.iterdir()) == [
        "config.json", "manifest.json", "model.onnx", "vocab.json", "weights.safetensors"]


def test_it_draws_no_progress_bar_when_stderr_is_piped(tagger):
    _, run = tagger

    assert "\r" not in run.stderr
    assert "epoch 1" not in run.stderr and "batch/s" not in run.stderr


def test_it_evaluates_a_bio_tagger_with_accuracy_and_entity_f1(tagger):
    run = cli("evaluate", tagger[0], DATA / "tiny_ner.txt")

    assert run.returncode == 0, run.stderr
    metrics = json_lines(run.stdout)[-1]
    assert {"accuracy", "macro_f1", "entity_f1"} <= metrics.keys()
    assert metrics["examples"] == 3


def test_it_predicts_one_json_line_per_text(tagger):
    run = cli("predict", tagger[0], "EU rejects German call", "Peter Blackburn")

    assert run.returncode == 0, run.stderr
    first, second = json_lines(run.stdout)
    assert first["tokens"] == ["EU", "rejects", "German", "call"] and len(first["tags"]) == 4
    assert second["tokens"] == ["Peter", "Blackburn"] and len(second["scores"]) == 2


def test_it_trains_and_evaluates_translation_from_two_aligned_files(translator):
    run = cli("evaluate", translator, f"{DATA / 'tiny.de'},{DATA / 'tiny.en'}", "--beam-size", "2")

    assert run.returncode == 0, run.stderr
    metrics = json_lines(run.stdout)[-1]
    assert {"bleu", "chrf"} <= metrics.keys()
    assert metrics["examples"] == 3


@pytest.mark.parametrize("task, name, line", [("tagging", "ragged.txt", 3), ("classification", "bad_utf8.tsv", 3)])
def test_it_exits_non_zero_naming_the_file_and_line_of_a_broken_data_file(tmp_path, task, name, line):
    run = cli("train", "--task", task, "--train", DATA / name, "--config", write_config(tmp_path, TINY),
              "--epochs", "1", "--device", "cpu", "--out", tmp_path / "version")

    assert run.returncode != 0
    assert name in run.stderr and f"line {line}" in run.stderr
    assert "Traceback" not in run.stderr
    assert not (tmp_path / "version").exists()


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA, so --device cuda is valid here")
def test_it_refuses_cuda_on_a_machine_without_it(tmp_path):
    run = cli("train", "--task", "tagging", "--train", DATA / "tiny_ner.txt", "--device", "cuda",
              "--out", tmp_path / "version")

    assert run.returncode != 0
    assert "device" in run.stderr and "Traceback" not in run.stderr


def test_it_names_a_bad_config_field(tmp_path):
    config = write_config(tmp_path, {"architecture": {"cell": "xyz"}})

    run = cli("train", "--task", "tagging", "--train", DATA / "tiny_ner.txt", "--config", config,
              "--out", tmp_path / "version")

    assert run.returncode != 0
    assert "architecture.cell" in run.stderr and "xyz" in run.stderr
    assert "Traceback" not in run.stderr


def test_it_names_the_line_of_a_config_file_that_is_not_json(tmp_path):
    config = tmp_path / "config.json"
    config.write_text('{"training": {\n  "epochs": 2,,\n}}')

    run = cli("train", "--task", "tagging", "--train", DATA / "tiny_ner.txt", "--config", config,
              "--out", tmp_path / "version")

    assert run.returncode == 2
    assert f"--config {config}, line 2" in run.stderr and "Traceback" not in run.stderr
    assert not (tmp_path / "version").exists()


def test_it_trains_evaluates_and_predicts_a_forecaster(tmp_path):
    data = tmp_path / "waves.csv"
    data.write_text(forecast_csv())
    config = write_config(tmp_path, {"architecture": {"embed_dim": 8, "hidden_dim": 16, "segment_length": 4},
                                     "training": {"batch_size": 8}, "data": {"lookback": 12, "horizon": 4,
                                                                             "targets": ["load"]}})
    run = cli("train", "--task", "forecasting", "--train", data, "--config", config, "--epochs", "1",
              "--device", "cpu", "--out", tmp_path / "version")
    assert run.returncode == 0, run.stderr
    assert {"dev_mse", "dev_mae", "dev_mse_units"} <= json_lines(run.stdout)[0].keys()

    run = cli("evaluate", tmp_path / "version", data)
    assert run.returncode == 0, run.stderr
    metrics = json_lines(run.stdout)[-1]
    assert metrics["examples"] == 160 - 16 + 1 and list(metrics)[-2:] == ["mse", "mae"]

    inputs = tmp_path / "inputs.jsonl"
    inputs.write_text(json.dumps({"values": [[10.0, 5.0, float(h)] for h in range(12)]}) + "\n")
    run = cli("predict", tmp_path / "version", "--inputs", inputs, "--horizon", "2")
    assert run.returncode == 0, run.stderr
    (out,) = json_lines(run.stdout)
    assert out["columns"] == ["load"] and len(out["forecast"]) == 2
