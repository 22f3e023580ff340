"""A training job through the service (REST API, Celery worker) against the core's command line, same config.

    python -m bench.training_service [--data ../shared/datasets] [--rounds 2] [--sentences 3000] [--epochs 2]

Both train the default tagger on the first --sentences UD English EWT training sentences, scored on 500 dev
sentences each epoch, from scratch, on the CPU, with the same seed:
- core: `python -m rnnservice.ml train --task tagging --train ... --dev ... --config cfg.json`, timed from the
  start of the process to its exit (it saves the version folder);
- service: POST /api/training-jobs/ to the web server, the job run by a real Celery worker on the `training` queue
  (file-system broker, SQLite), timed from the POST to the moment the job reads `succeeded` (its version
  registered), polled every 0.1 s.
The two alternate, --rounds times each; it prints each wall time, the medians and their ratio (goal: the
service within 5% of the core, ratio <= 1.05).
"""
from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.server import ServiceUnderTest
from bench.slices import write_slice

ROOT = Path(__file__).resolve().parent.parent
DEV_SENTENCES = 500


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "datasets")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--sentences", type=int, default=3000)
    parser.add_argument("--epochs", type=int, default=2)
    args = parser.parse_args()
    ud = args.data / "ud-english-ewt"
    work = Path(tempfile.mkdtemp(prefix="rnnservice-bench-training-"))
    try:
        train = write_slice(ud / "en_ewt-ud-train.conllu", work / "train.conllu", args.sentences)
        dev = write_slice(ud / "en_ewt-ud-dev.conllu", work / "dev.conllu", DEV_SENTENCES)
        training = {"epochs": args.epochs, "patience": args.epochs}
        config = work / "config.json"
        config.write_text(json.dumps({"training": training}))
        times: dict[str, list[float]] = {"core": [], "service": []}
        with ServiceUnderTest(home=work / "home", worker_queues=("training",),
                              log=lambda m: print(f"# {m}", file=sys.stderr, flush=True)) as svc:
            dataset = svc.import_dataset("upos", "tagging", train, dev_path=dev)
            for round_ in range(1, args.rounds + 1):
                times["core"].append(_core(train, dev, config, work / f"core-{round_}"))
                times["service"].append(_service(svc, dataset, training))
                print(json.dumps({"round": round_, "core_s": round(times["core"][-1], 2),
                                  "service_s": round(times["service"][-1], 2)}), flush=True)
        core, service = statistics.median(times["core"]), statistics.median(times["service"])
        print(json.dumps({"sentences": args.sentences, "epochs": args.epochs, "rounds": args.rounds,
                          "core_median_s": round(core, 2), "service_median_s": round(service, 2),
                          "ratio_service_over_core": round(service / core, 3), "goal": "<= 1.05"}), flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _core(train: Path, dev: Path, config: Path, out: Path) -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "rnnservice.ml", "train", "--task", "tagging", "--train", str(train),
                    "--dev", str(dev), "--config", str(config), "--device", "cpu", "--out", str(out)],
                   check=True, stdout=subprocess.DEVNULL, cwd=ROOT)
    return time.perf_counter() - started


def _service(svc: ServiceUnderTest, dataset: int, training: dict) -> float:
    started = time.perf_counter()
    status, job = svc.request("POST", "/api/training-jobs/", {"dataset": dataset, "model_name": "upos",
                                                              "training": training})
    if status != 201:
        raise SystemExit(f"launch: {status} {job}")
    while True:
        status, job = svc.request("GET", f"/api/training-jobs/{job['id']}/")
        if job["status"] in ("succeeded", "failed", "cancelled"):
            break
        time.sleep(0.1)
    took = time.perf_counter() - started
    if job["status"] != "succeeded":
        raise SystemExit(f"job {job['id']} {job['status']}: {job.get('error')}")
    return took


if __name__ == "__main__":
    main()
