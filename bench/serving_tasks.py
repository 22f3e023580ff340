"""Every task's prediction through the running service against its bare forward pass or decoding loop (issue 19).

    python -m bench.serving_tasks [--tasks ecg forecast names translation] [--seconds 8] [--clients 32]

One run, on this machine. For each task, a version of the task's default model is trained through `manage.py
train` on a slice of a real data set (1 epoch: the speed of a model does not depend on how well it learned):
- ecg: classification of numeric series, ECG5000 (500 heartbeats of 140 values);
- forecast: forecasting, ETTh1 (the first 3,000 hours, every column, the defaults' look-back and horizon);
- names: generation, one surname sampled for a language (names.tsv, 3,000 names);
- translation: Multi30k German to English (3,000 pairs), beam 4.
Then, with the same inputs: the bare `Predictor.run` in this process on the exported version (PyTorch, prepared
inputs, the same torch threads as a web worker; the server uses ONNX Runtime where the version recorded it
faster): the median ms of one input, and inputs per second in batches of `--clients` (translation: of 8); and
the web server (rnnservice/server.py, its defaults, batching on): 1 client, then `--clients` clients
(translation: 8), one input a request. Prints a JSON line per measurement and a table.
"""
from __future__ import annotations

import argparse
import itertools
import json
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

from bench.server import ServiceUnderTest
from bench.serving import ROOT, _load, _server_defaults
from rnnservice.ml.formats import read_examples
from rnnservice.ml.predict import Predictor

TRAIN = {"training": {"epochs": 1}}


def _head(source: Path, target: Path, lines: int) -> Path:
    with source.open(encoding="utf-8") as read, target.open("w", encoding="utf-8") as write:
        write.writelines(itertools.islice(read, lines))
    return target


def _names(data: Path, work: Path) -> tuple[str, Any, list[dict], dict]:
    rows = (data / "names" / "names.tsv").read_text(encoding="utf-8").splitlines()
    header, body = rows[0], rows[1:]
    kept = [body[i] for i in range(0, len(body), max(1, len(body) // 3000))]       # every language
    path = work / "names.tsv"
    path.write_text("\n".join([header, *kept]) + "\n", encoding="utf-8")
    languages = sorted({row.split("\t")[1] for row in kept})
    return "generation", path, [{"label": languages[i % len(languages)]} for i in range(200)], {}


def _ecg(data: Path, work: Path) -> tuple[str, Any, list[dict], dict]:
    path = _head(data / "ecg5000" / "train.tsv", work / "ecg.tsv", 500)
    inputs = [{"values": [float(v) for v in line.split("\t")[1:]]}
              for line in path.read_text(encoding="utf-8").splitlines()]
    return "classification", path, inputs, {}


def _forecast(data: Path, work: Path) -> tuple[str, Any, list[dict], dict]:
    path = _head(data / "etth1" / "ETTh1.csv", work / "etth1.csv", 3001)
    return "forecasting", path, [], {}      # inputs: the windows of the trained version's look-back (_windows)


def _translation(data: Path, work: Path) -> tuple[str, Any, list[dict], dict]:
    source = _head(data / "multi30k-de-en" / "train.de", work / "train.de", 3000)
    target = _head(data / "multi30k-de-en" / "train.en", work / "train.en", 3000)
    sentences = (data / "multi30k-de-en" / "val.de").read_text(encoding="utf-8").splitlines()[:200]
    return "translation", f"{source},{target}", sentences, {"beam_size": 4}


TASKS = {"ecg": _ecg, "forecast": _forecast, "names": _names, "translation": _translation}


def _windows(predictor: Predictor, path: Path) -> list[dict]:
    windows = predictor.gold_examples(read_examples(path, task="forecasting"))
    return [{"values": window.history.tolist()} for window in windows[::max(1, len(windows) // 200)]]


def _bare(predictor: Predictor, inputs: list, options: dict, batch: int, threads: int) -> dict[str, float]:
    """Predictor.run on prepared inputs: the median ms of one input (100 of them, after a warm-up), and inputs per
    second over the inputs in batches of `batch`, twice, the faster kept."""
    torch.set_num_threads(threads)
    checked = predictor.options(options)
    prepared = predictor.prepare(inputs)
    predictor.run(prepared[:batch], checked)
    singles = []
    for one in prepared[:100]:
        started = time.perf_counter()
        predictor.run([one], checked)
        singles.append(1000 * (time.perf_counter() - started))
    rates = []
    for _ in range(2):
        started = time.perf_counter()
        for i in range(0, len(prepared), batch):
            predictor.run(prepared[i:i + batch], checked)
        rates.append(len(prepared) / (time.perf_counter() - started))
    return {"bare_1_input_ms": round(statistics.median(singles), 3), f"bare_batch_{batch}_inputs_per_s":
            round(max(rates), 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "datasets")
    parser.add_argument("--tasks", nargs="+", choices=sorted(TASKS), default=list(TASKS))
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--clients", type=int, default=32)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="rnnservice-bench-serving-tasks-"))
    rows = []
    try:
        with ServiceUnderTest(home=work / "home", worker_queues=(), env={"RNNSERVICE_THROTTLE_PREDICT": "off"},
                              start=False, log=lambda m: print(f"# {m}", file=sys.stderr, flush=True)) as svc:
            workers, threads = _server_defaults()
            for name in args.tasks:
                task, train, inputs, options = TASKS[name](args.data, work)
                svc.train_model(name, task, train, TRAIN)
                folder = work / f"{name}-v1"
                svc.manage("export_model", f"{name}@1", str(folder))
                predictor = Predictor.load(folder)
                inputs = inputs or _windows(predictor, Path(train))
                clients = 8 if task == "translation" else args.clients
                recorded = json.loads((folder / "config.json").read_text()).get("runtime") or {}
                figures: dict[str, Any] = {"task": name, "served_runtime": recorded.get("runtime", "torch"),
                                           **_bare(predictor, inputs, options, clients, threads)}
                bodies = [{"inputs": [one], **({"options": options} if options else {})} for one in inputs]
                svc.start_web(workers=workers)
                url = f"{svc.url}/api/models/{name}/predict/"
                group = svc.pids()["web"][0]
                one = _load(url, bodies, 1, args.seconds, svc.headers, group=group)
                many = _load(url, bodies, clients, args.seconds, svc.headers, group=group)
                svc.stop_web()
                figures.update({
                    "p50_1_client_ms": one["p50_ms"], "p99_1_client_ms": one["p99_ms"],
                    "clients": clients, "requests_per_s": many["requests_per_s"], "errors": many["errors"],
                    "server_cpu_ms_per_request": many.get("server_cpu_ms_per_request")})
                figures["1_client_p50_over_bare_ms"] = round(one["p50_ms"] - figures["bare_1_input_ms"], 2)
                figures["served_over_bare_batched"] = round(
                    many["requests_per_s"] / figures[f"bare_batch_{clients}_inputs_per_s"], 2)
                print(json.dumps(figures), flush=True)
                rows.append(figures)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print("| task | bare, 1 input (ms) | 1 client p50 / p99 (ms) | clients | served inputs/s | bare batched inputs/s "
          "| served / bare | errors |")
    print("|---|---|---|---|---|---|---|---|")
    for f in rows:
        bare = f[f"bare_batch_{f['clients']}_inputs_per_s"]
        print(f"| {f['task']} | {f['bare_1_input_ms']} | {f['p50_1_client_ms']} / {f['p99_1_client_ms']} | "
              f"{f['clients']} | {f['requests_per_s']} | {bare} | {f['served_over_bare_batched']} | {f['errors']} |")


if __name__ == "__main__":
    main()
