"""Soak (issue 6): prediction over HTTP under load while a training job runs on the same machine.

    python -m bench.soak [--clients 32] [--seconds 60] [--data ../shared/datasets]

Starts the service with bench/server.py in a temporary RNNSERVICE_HOME (granian, 1 worker, a thread per client; a
Celery worker for the default queue and one for the training queue), trains a small UPOS tagger on a slice of UD
English EWT through `manage.py train --sync`, then launches a bigger training job through the REST API, one planned to
outlast the soak. Once that job runs, `--clients` concurrent clients send one UD dev sentence per request to the
tagger for `--seconds` seconds (bench/loadgen.py, 127.0.0.1 only). Then it checks that the job is still running,
cancels it through the API, stops every process and prints one JSON line: requests, errors (goal 0), latency
percentiles, requests per second, the job's progress, memory and the machine's load. Progress goes to stderr.
Exits 1 when a request failed or the job was not running at the end. Data slices live in the temporary folder.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.loadgen import run_load
from bench.server import ServiceUnderTest
from bench.slices import write_slice

UD = "ud-english-ewt"
# The model that answers: small, so that a 2-core machine trains it in seconds.
TAGGER = {"architecture": {"embed_dim": 64, "hidden_dim": 128, "num_layers": 1, "char_dim": 0},
          "training": {"epochs": 3, "batch_size": 16, "lr": 0.01}}
# The job that trains throughout: the task's default tagger, more epochs than the soak can see, no early stop.
JOB_TRAINING = {"epochs": 500, "patience": 500}
# Prediction is not throttled here (RNNSERVICE_THROTTLE_PREDICT, 50/s per user by default): the soak measures
# the server, not the limit, and all its clients are one user.
ENV = {"RNNSERVICE_THROTTLE_PREDICT": "off"}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--data", type=Path, default=Path("../shared/datasets"))
    parser.add_argument("--tagger-sentences", type=int, default=1000, help="UD training sentences for the tagger")
    parser.add_argument("--job-sentences", type=int, default=400, help="UD training sentences for the long job")
    parser.add_argument("--workers", type=int, default=1, help="web server (granian) worker processes")
    parser.add_argument("--threads", type=int, help="web server threads per worker (default: one per client)")
    parser.add_argument("--training-threads", type=int, default=1, metavar="N",
                        help="torch threads of the training worker and of the tagger's training (OMP_NUM_THREADS)")
    parser.add_argument("--cancel-wait", type=float, default=60.0, metavar="SECONDS",
                        help="how long to wait, after the cancel, for the job to stop at the end of its epoch")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder (logs, database) and say where")
    args = parser.parse_args()
    # SIGTERM (a CI timeout, `kill`) stops the run as Ctrl-C does: the service's processes are stopped on the way out.
    signal.signal(signal.SIGTERM, lambda number, frame: sys.exit(128 + number))
    train_file, dev_file = args.data / UD / "en_ewt-ud-train.conllu", args.data / UD / "en_ewt-ud-dev.conllu"
    for path in (train_file, dev_file):
        if not path.is_file():
            parser.error(f"no such file: {path} (point --data at the shared data sets)")

    tmp = tempfile.mkdtemp(prefix="rnnservice-soak-")
    try:
        slices = Path(tmp) / "data"
        slices.mkdir()
        dev_slice = write_slice(dev_file, slices / "dev.conllu", 300)
        tagger_train = write_slice(train_file, slices / "tagger-train.conllu", args.tagger_sentences)
        job_train = write_slice(train_file, slices / "job-train.conllu", args.job_sentences,
                                skip=args.tagger_sentences)
        job_dev = write_slice(dev_file, slices / "job-dev.conllu", 100)
        bodies = [{"inputs": [text]} for text in sentence_texts(dev_file)]
        with ServiceUnderTest(Path(tmp) / "home", web_workers=args.workers,
                              web_threads=args.threads or args.clients, worker_queues=("default", "training"),
                              env=ENV, worker_env=training_env(args), log=say) as svc:
            result = soak(svc, args, tagger_train, dev_slice, job_train, job_dev, bodies)
    finally:
        if args.keep:
            say(f"kept {tmp}: the programs' logs are under home/logs")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    print(json.dumps(result), flush=True)
    return 0 if result["ok"] else 1


def soak(svc: ServiceUnderTest, args: argparse.Namespace, tagger_train: Path, dev_slice: Path, job_train: Path,
         job_dev: Path, bodies: list[dict]) -> dict[str, Any]:
    model = svc.train_model("soak-upos", "tagging", tagger_train, config=TAGGER, dev_path=dev_slice,
                            env=training_env(args))
    status, answer = svc.request("POST", f"/api/models/{model.name}/predict/", bodies[0])
    if status != 200:
        raise SystemExit(f"soak: the first prediction got {status}: {answer}")
    say(f"predict works: {json.dumps(answer)[:200]}")

    dataset = svc.import_dataset("soak-job-data", "tagging", job_train, dev_path=job_dev)
    status, job = svc.request("POST", "/api/training-jobs/", {"dataset": dataset, "model_name": "soak-job",
                                                              "training": JOB_TRAINING})
    if status != 201:
        raise SystemExit(f"soak: launching the training job got {status}: {job}")
    job = wait_for_job(svc, job["id"], lambda job: job["status"] != "queued", timeout=120)
    if job["status"] != "running":
        raise SystemExit(f"soak: training job {job['id']} is {job['status']}, not running: {job.get('error')}")
    say(f"training job {job['id']} running on {job['worker']}; load for {args.seconds:g} s from "
        f"{args.clients} clients")

    memory_before, load_before = svc.memory_mb(), os.getloadavg()
    load = run_load(f"{svc.url}/api/models/{model.name}/predict/", bodies=bodies, clients=args.clients,
                    seconds=args.seconds, headers=svc.headers)
    memory_after, load_after = svc.memory_mb(), os.getloadavg()
    summary = load.summary()
    say(f"load done: {json.dumps(summary)}")

    status, at_end = svc.request("GET", f"/api/training-jobs/{job['id']}/")
    still_running = status == 200 and at_end["status"] == "running"
    beat = at_end.get("heartbeat_at")
    heartbeat_age = round((datetime.now(UTC) - datetime.fromisoformat(beat)).total_seconds(), 1) if beat else None
    say(f"training job {job['id']} at the end: {at_end['status']}, progress {at_end['progress']:.3f}, "
        f"{len(at_end['epochs'])} epochs done, last heartbeat {heartbeat_age} s ago; cancelling it")
    status, cancelled = svc.request("POST", f"/api/training-jobs/{job['id']}/cancel/")
    if status != 200:
        say(f"cancel got {status}: {cancelled}")
    final = wait_for_job(svc, job["id"], lambda job: job["status"] not in ("queued", "running"),
                         timeout=args.cancel_wait)
    say(f"training job {job['id']} after the cancel: {final['status']}")

    return {
        "soak": "issue 6", "clients": args.clients, "seconds": round(load.seconds, 1),
        **{key: summary[key] for key in ("requests", "errors", "requests_per_s", "p50_ms", "p99_ms", "statuses")},
        **({"first_error": summary["first_error"]} if "first_error" in summary else {}),
        "model": f"{model.name}@{model.version}",
        "web": {"workers": svc.web_workers, "threads": svc.web_threads},
        "training_threads": args.training_threads,
        "training_job": {"id": job["id"], "status_at_end": at_end["status"], "progress": round(at_end["progress"], 4),
                         "epochs_done": len(at_end["epochs"]), "epochs_planned": JOB_TRAINING["epochs"],
                         "heartbeat_age_s": heartbeat_age,
                         "status_after_cancel": final["status"]},
        "rss_mb": {"before": memory_before, "after": memory_after},
        "loadavg_1m": {"before": round(load_before[0], 2), "after": round(load_after[0], 2)},
        "ok": summary["errors"] == 0 and summary["requests"] > 0 and still_running,
    }


def training_env(args: argparse.Namespace) -> dict[str, str]:
    """Torch's threads where training runs. Its default, every core, fights the web server's threads for the cores: the
    OpenMP threads spin while they wait, and a busy 2-core machine then trains several times slower."""
    return {"OMP_NUM_THREADS": str(args.training_threads)}


def wait_for_job(svc: ServiceUnderTest, job_id: int, done: Callable[[dict[str, Any]], bool], *,
                 timeout: float) -> dict[str, Any]:
    """The job's detail once done(job) holds, or as it is when `timeout` seconds have passed."""
    deadline = time.monotonic() + timeout
    while True:
        status, job = svc.request("GET", f"/api/training-jobs/{job_id}/")
        if status != 200:
            raise SystemExit(f"soak: reading training job {job_id} got {status}: {job}")
        if done(job) or time.monotonic() > deadline:
            return job
        time.sleep(1)


def sentence_texts(path: Path) -> list[str]:
    """The `# text = ...` line of each sentence: raw text, as a client would send it."""
    prefix = "# text = "
    with path.open(encoding="utf-8") as lines:
        return [line[len(prefix):].strip() for line in lines if line.startswith(prefix)]


def say(message: str) -> None:
    print(f"[soak {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


if __name__ == "__main__":
    sys.exit(main())
