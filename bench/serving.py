"""Prediction through the running service, side by side with a bare forward pass and TorchServe (issue 5).

    python -m bench.serving [--data ../shared/datasets] [--seconds 15] [--clients 32] [--no-torchserve]

One run, on this machine: trains the default tagger (the tagging task's defaults) on 2,000 UD English EWT
sentences through `manage.py train` (version 1: 2 epochs; versions 2 and 3: 1 epoch), then measures, with the
same load generator (bench/loadgen.py, closed-loop clients on 127.0.0.1, one UD dev sentence a request unless
said otherwise):
1. a bare forward pass of the same weights in this process (tensors ready, no HTTP): 1 sentence, and 64; and
   the batching ceiling: 640 dev sentences one at a time against the same in batches of 64;
2. the web server (granian, rnnservice/server.py) with dynamic batching (its defaults and the settings'): 1 client,
   32 clients, and 64 sentences a request; and, as the floor of any request through it, GET /healthz with 32 clients;
3. the first request after a promotion, the model not yet loaded;
4. peak memory (VmHWM) of a web worker once 3 versions are loaded (the server restarted with one worker);
5. the same server with SERVING_BATCHING=false, 32 clients;
6. TorchServe serving the same version folder with the same Predictor code (bench/torchserve_handler.py) and
   its own batching (batchSize = SERVING_BATCH_MAX_ITEMS, maxBatchDelay = SERVING_BATCH_WAIT_MS), as many
   workers as our server has, with the same torch threads: 1 client and 32 clients.
7. LitServe (bench/litserve_server.py) serving the same folder with the same Predictor code and its own batching
   (max_batch_size, batch_timeout as TorchServe's), as many workers: 1 client and 32 clients;
Prints a JSON line per measurement and a summary of the goals. Needs requirements-bench.txt and Java 17.
With `--quantize` the versions are trained with `training.quantize` (rnnservice/ml/runtime.py): where the int8
graph kept the dev score, our server serves it, and the bare figures add its forward pass; TorchServe and LitServe
still run `Predictor.load` (PyTorch eager) on the same folder.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import torch

from apps.local.processes import start_process, stop_processes
from bench.loadgen import LoadResult, run_load
from bench.server import ServiceUnderTest, _free_port, group_members, stat_fields
from bench.slices import write_slice
from rnnservice.ml.formats import read_examples
from rnnservice.ml.predict import Predictor
from rnnservice.ml.runtime import INT8_FILE, ONNX_FILE, OnnxModel

ROOT = Path(__file__).resolve().parent.parent
TRAIN_SENTENCES, DEV_SENTENCES = 2000, 300         # the speed of a model does not depend on how well it learned
BATCH_ITEMS, BATCH_WAIT_MS = 64, 5                   # the settings' defaults, given to TorchServe too


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "datasets")
    parser.add_argument("--seconds", type=float, default=15.0, help="length of each load run")
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--train-sentences", type=int, default=TRAIN_SENTENCES,
                        help="fewer for a quicker run: the speed of a model does not depend on how well it learned")
    parser.add_argument("--no-torchserve", action="store_true")
    parser.add_argument("--no-litserve", action="store_true")
    parser.add_argument("--quantize", action="store_true", help="train with training.quantize (an int8 graph)")
    args = parser.parse_args()
    ud = args.data / "ud-english-ewt"
    work = Path(tempfile.mkdtemp(prefix="rnnservice-bench-serving-"))
    figures: dict[str, object] = {}
    try:
        train = write_slice(ud / "en_ewt-ud-train.conllu", work / "train.conllu", args.train_sentences)
        dev = write_slice(ud / "en_ewt-ud-dev.conllu", work / "dev.conllu", DEV_SENTENCES)
        sentences = [ex.tokens for ex in read_examples(ud / "en_ewt-ud-dev.conllu", task="tagging")]
        single = [{"inputs": [{"tokens": tokens}]} for tokens in sentences[:500]]
        sixty_four = [{"inputs": [{"tokens": t} for t in sentences[i:i + 64]]} for i in range(0, 640, 64)]
        # One user sends every request here: its prediction rate limit would measure the throttle, not the server.
        with ServiceUnderTest(home=work / "home", worker_queues=(), web_threads=16,       # the default
                              env={"RNNSERVICE_THROTTLE_PREDICT": "off"}, start=False,
                              log=lambda m: print(f"# {m}", file=sys.stderr, flush=True)) as svc:
            for epochs, alias in ((2, "production"), (1, None), (1, None)):       # versions 1, 2, 3
                training = {"epochs": epochs, **({"quantize": True} if args.quantize else {})}
                svc.train_model("pos", "tagging", train, {"training": training}, dev, alias=alias)
            folder = work / "pos-v1"
            svc.manage("export_model", "pos@1", str(folder))
            workers, threads = _server_defaults()
            figures.update(_bare_forward(folder, sentences, threads))
            url = "/api/models/pos/predict/"

            svc.start_web(workers=workers)
            web = svc.pids()["web"][0]               # granian's main process leads the process group of its workers
            figures["batched_1_client"] = _load(svc.url + url, single, 1, args.seconds, svc.headers, group=web)
            figures["batched_32_clients"] = _load(svc.url + url, single, args.clients, args.seconds, svc.headers,
                                                  group=web)
            # The floor of any request through this server: granian, Django's middleware, no DRF, no model.
            figures["healthz_32_clients"] = _load(svc.url + "/healthz", [{}], args.clients, args.seconds, {},
                                                  method="GET", group=web)
            figures["batched_64_per_request"] = _load(svc.url + url, sixty_four, 1, args.seconds, svc.headers,
                                                      group=web)
            figures["first_request_after_promotion_ms"] = _first_after_promotion(svc, url, single[0])
            svc.restart_web(workers=1)                 # one worker, so that it surely loads all three versions
            figures["web_worker_peak_mb_3_models"] = _peak_with_three_models(svc, url, single[0])

            svc.restart_web(env={"SERVING_BATCHING": "false"}, workers=workers)
            figures["unbatched_32_clients"] = _load(svc.url + url, single, args.clients, args.seconds, svc.headers,
                                                    group=svc.pids()["web"][0])
            svc.stop_web()

            if not args.no_litserve:
                with _litserve(folder, work / "litserve", workers, threads) as lit:
                    figures["litserve_1_client"] = _load(lit.url, single, 1, args.seconds, {}, group=lit.group)
                    figures["litserve_32_clients"] = _load(lit.url, single, args.clients, args.seconds, {},
                                                           group=lit.group)
            if not args.no_torchserve:
                with _torchserve(folder, work / "torchserve", workers, threads) as ts:
                    figures["torchserve_1_client"] = _load(ts.url, single, 1, args.seconds, {}, group=ts.group)
                    figures["torchserve_32_clients"] = _load(ts.url, single, args.clients, args.seconds, {},
                                                             group=ts.group)
        _report(figures)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _server_defaults() -> tuple[int, int]:
    """The workers and torch threads per worker of the web server's defaults on this box (rnnservice/server.py):
    TorchServe and LitServe get the same, and the bare forward the same threads."""
    from rnnservice.server import server_settings
    config = server_settings()
    print(json.dumps({"web_workers": config.workers, "torch_threads": config.torch_threads}), flush=True)
    return config.workers, config.torch_threads


def _bare_forward(folder: Path, sentences: list[list[str]], threads: int) -> dict[str, object]:
    """The model's forward (and CRF/argmax decoding) alone on ready tensors: the median ms of 1 sentence and of
    64, and the batching ceiling: the time to tag the same 640 sentences one at a time over the time in batches of
    64. No server can gain more than that from batching this model on this machine."""
    torch.set_num_threads(threads)
    predictor = Predictor.load(folder)
    examples = predictor.prepare([{"tokens": t} for t in sentences[:640]])

    def batch_of(group):
        items = [one.item for one in group]
        return {k: v for k, v in predictor.codec.collate(items).items() if k in ("ids", "lengths", "chars")}

    def times_ms(batches, rounds):
        """Each batch's median ms over `rounds` (after one round of warm-up)."""
        times = [[] for _ in batches]
        with torch.inference_mode():
            for r in range(rounds + 1):
                for batch, kept in zip(batches, times, strict=True):
                    started = time.perf_counter()
                    predictor.model.predict(**batch)
                    if r:
                        kept.append(1000 * (time.perf_counter() - started))
        return [statistics.median(t) for t in times]

    singles = times_ms([batch_of([ex]) for ex in examples], 3)
    sixty_fours = times_ms([batch_of(examples[i:i + 64]) for i in range(0, 640, 64)], 5)
    one, many = statistics.median(singles[:500]), statistics.median(sixty_fours)
    figures = {"bare_forward_1_sentence_ms": round(one, 3), "bare_forward_64_sentences_ms": round(many, 2),
               "bare_forward_64_sentences_per_s": round(64 / many * 1000, 1),
               "batching_ceiling": round(sum(singles) / sum(sixty_fours), 2), "torch_threads": threads,
               "runtime_recorded": json.loads((folder / "config.json").read_text()).get("runtime")}
    # The same forward through ONNX Runtime (rnnservice/ml/runtime.py), and its int8 graph where --quantize made one.
    eager = predictor.model
    for prefix, name in (("onnx", ONNX_FILE), ("int8", INT8_FILE)):
        if not (folder / name).is_file():
            continue
        predictor.model = OnnxModel(eager, folder / name, threads)
        figures[f"{prefix}_1_sentence_ms"] = round(statistics.median(
            times_ms([batch_of([ex]) for ex in examples[:200]], 3)), 3)
        figures[f"{prefix}_64_sentences_ms"] = round(statistics.median(
            times_ms([batch_of(examples[i:i + 64]) for i in range(0, 640, 64)], 5)), 2)
    predictor.model = eager
    print(json.dumps(figures), flush=True)
    return figures


def _load(url: str, bodies: list, clients: int, seconds: float, headers: dict, method: str = "POST", *,
          group: int | None = None) -> dict:
    """One load run. With `group` (the server's process group), also the CPU the server's processes and this
    client spent per request: the cost of a request apart from waiting and from the other side."""
    server, client, began = _group_cpu_seconds(group) if group else 0.0, _own_cpu_seconds(), time.perf_counter()
    result: LoadResult = run_load(url, bodies=bodies, clients=clients, seconds=seconds, headers=headers, warmup=1.0,
                                  method=method)
    summary = {"url": url, "clients": clients, "items_per_request": len(bodies[0].get("inputs", ())),
               **result.summary()}
    if result.ok:           # CPU over the whole run, warm-up included, at the measured rate of requests
        per_request = 1000 / (time.perf_counter() - began) / summary["requests_per_s"]
        if group:
            summary["server_cpu_ms_per_request"] = round((_group_cpu_seconds(group) - server) * per_request, 3)
        summary["client_cpu_ms_per_request"] = round((_own_cpu_seconds() - client) * per_request, 3)
    print(json.dumps(summary), flush=True)
    return summary


def _group_cpu_seconds(group: int) -> float:
    """User and system CPU seconds of the living processes of a process group."""
    ticks = sum(int(fields[11]) + int(fields[12]) for pid in group_members(group) if (fields := stat_fields(pid)))
    return ticks / os.sysconf("SC_CLK_TCK")


def _own_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _first_after_promotion(svc: ServiceUnderTest, url: str, body: dict) -> float:
    """Promote version 2 (never requested yet, so not loaded), then time one request."""
    svc.manage("promote", "pos", "2", "--alias", "production")
    started = time.perf_counter()
    status, answer = svc.request("POST", url, body)
    took = 1000 * (time.perf_counter() - started)
    if status != 200 or answer.get("version") != 2:
        raise SystemExit(f"after promotion: {status} {answer}")
    print(json.dumps({"first_request_after_promotion_ms": round(took, 1)}), flush=True)
    return round(took, 1)


def _peak_with_three_models(svc: ServiceUnderTest, url: str, body: dict) -> float:
    for version in (1, 2, 3):
        status, answer = svc.request("POST", url, {**body, "version": version})
        if status != 200:
            raise SystemExit(f"version {version}: {status} {answer}")
    worker = svc.pids()["web"][1]                    # [master, worker]
    peak = _status_kb(worker, "VmHWM") / 1024
    print(json.dumps({"web_worker_peak_mb_3_models": round(peak, 1), "pid": worker}), flush=True)
    return round(peak, 1)


def _status_kb(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise KeyError(field)


class _torchserve:
    """TorchServe on 127.0.0.1 serving `folder` as model "pos" with `workers` workers; stopped on exit."""

    def __init__(self, folder: Path, work: Path, workers: int, threads: int):
        self.folder, self.work, self.workers, self.threads = folder, work, workers, threads

    def __enter__(self) -> _torchserve:
        store, self.work = self.work / "store", self.work
        store.mkdir(parents=True)
        model_config = self.work / "model-config.yaml"
        model_config.write_text(f"minWorkers: {self.workers}\nmaxWorkers: {self.workers}\nbatchSize: {BATCH_ITEMS}\n"
                                f"maxBatchDelay: {BATCH_WAIT_MS}\nresponseTimeout: 60\n")
        # Every file of the version (model.onnx too, where it exported): Predictor.load verifies the manifest's list.
        files = ",".join(str(path) for path in sorted(self.folder.iterdir()) if path.is_file())
        subprocess.run([sys.executable, "-m", "model_archiver.model_packaging", "--model-name", "pos",
                        "--version", "1.0", "--handler", str(ROOT / "bench" / "torchserve_handler.py"),
                        "--extra-files", files, "--config-file", str(model_config), "--export-path", str(store)],
                       check=True)
        port, management, metrics = _free_port(), _free_port(), _free_port()
        properties = self.work / "config.properties"
        properties.write_text(f"inference_address=http://127.0.0.1:{port}\n"
                              f"management_address=http://127.0.0.1:{management}\n"
                              f"metrics_address=http://127.0.0.1:{metrics}\n"
                              f"default_workers_per_model={self.workers}\nenable_envvars_config=false\n"
                              "disable_system_metrics=true\n")
        env = {**os.environ, "PYTHONPATH": str(ROOT), "TORCH_THREADS": str(self.threads),
               "OMP_NUM_THREADS": str(self.threads), "LOG_LOCATION": str(self.work / "logs"),
               "METRICS_LOCATION": str(self.work / "logs")}
        self.log = (self.work / "torchserve.out").open("w")
        self.process = start_process(
            [str(Path(sys.executable).parent / "torchserve"), "--start", "--foreground", "--ncs",
             "--disable-token-auth", "--model-store", str(store), "--models", "pos=pos.mar",
             "--ts-config", str(properties)],
            cwd=Path.cwd(), env=env, stdout=self.log)
        self.url = f"http://127.0.0.1:{port}/predictions/pos"
        self.group = self.process.pid              # its own process group: the frontend and its Python workers
        try:
            self._wait_ready(f"http://127.0.0.1:{port}/ping")
        except BaseException:                      # __exit__ will not run: a frontend left behind blocks the next
            self.__exit__()
            raise
        return self

    def _wait_ready(self, ping: str) -> None:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise SystemExit(f"torchserve exited: see {self.log.name}")
            try:
                with urllib.request.urlopen(ping, timeout=2) as answer:
                    if json.load(answer).get("status") == "Healthy":
                        req = urllib.request.Request(self.url, data=b'{"inputs": ["A test ."]}',
                                                     headers={"Content-Type": "application/json"})
                        with urllib.request.urlopen(req, timeout=30):
                            return
            except OSError:
                pass
            time.sleep(0.5)
        raise SystemExit("torchserve did not get ready in 180 s")

    def __exit__(self, *exc) -> None:
        stop_processes([self.process], grace=30)
        self.log.close()


class _litserve:
    """LitServe on 127.0.0.1 serving `folder` (bench/litserve_server.py); stopped on exit."""

    def __init__(self, folder: Path, work: Path, workers: int, threads: int):
        self.folder, self.work, self.workers, self.threads = folder, work, workers, threads

    def __enter__(self) -> _litserve:
        self.work.mkdir(parents=True)
        port = _free_port()
        self.log = (self.work / "litserve.out").open("w")
        env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": str(self.threads)}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "bench.litserve_server", str(self.folder), str(port), str(self.workers),
             str(self.threads), str(BATCH_ITEMS), str(BATCH_WAIT_MS / 1000)],
            cwd=ROOT, env=env, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)
        self.url, self.group = f"http://127.0.0.1:{port}/predict", self.process.pid
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise SystemExit(f"litserve exited: see {self.log.name}")
            try:
                req = urllib.request.Request(self.url, data=b'{"inputs": ["A test ."]}',
                                             headers={"Content-Type": "application/json"})
                with urllib.request.urlopen(req, timeout=30):
                    return self
            except OSError:
                time.sleep(0.5)
        raise SystemExit("litserve did not get ready in 180 s")

    def __exit__(self, *exc) -> None:
        try:
            os.killpg(self.process.pid, signal.SIGTERM)
            self.process.wait(30)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.log.close()


def _report(f: dict) -> None:
    bare1, bare64 = f["bare_forward_1_sentence_ms"], f["bare_forward_64_sentences_per_s"]
    one, many, off = f["batched_1_client"], f["batched_32_clients"], f["unbatched_32_clients"]
    per64 = f["batched_64_per_request"]
    sentences_64 = per64["requests_per_s"] * 64
    rows = [
        ("1 sentence, 1 client: p50 - bare forward (ms)", round(one["p50_ms"] - bare1, 2), "<= 2"),
        ("1 sentence, 1 client: p99 / p50", round(one["p99_ms"] / one["p50_ms"], 2), "< 3"),
        ("32 clients: batched / unbatched requests per s", round(many["requests_per_s"] / off["requests_per_s"], 2),
         ">= 3"),
        ("  ceiling: 640 sentences bare, one at a time / in 64s", f["batching_ceiling"], "reference"),
        ("32 clients: errors", many["errors"] + off["errors"], "0"),
        ("64 a request: sentences per s / bare batch-64 forward", round(sentences_64 / bare64, 3), ">= 0.7"),
        ("first request after a promotion (ms)", f["first_request_after_promotion_ms"], "< 1000"),
        ("web worker peak RSS with 3 models loaded (MiB)", f["web_worker_peak_mb_3_models"], "reported"),
        ("32 clients: server CPU ms a request, batched / unbatched / healthz",
         "/".join(str(f[k].get("server_cpu_ms_per_request")) for k in
                  ("batched_32_clients", "unbatched_32_clients", "healthz_32_clients")), "reference"),
    ]
    for prefix, label in (("onnx", "ONNX Runtime"), ("int8", "ONNX Runtime int8")):
        if f"{prefix}_1_sentence_ms" in f:
            rows.append((f"{label} / eager forward, 1 sentence (ms)", f"{f[prefix + '_1_sentence_ms']}/{bare1}",
                         "reference"))
            rows.append((f"{label} / eager forward, 64 sentences (ms)",
                         f"{f[prefix + '_64_sentences_ms']}/{f['bare_forward_64_sentences_ms']}", "reference"))
    if "litserve_32_clients" in f:
        lit = f["litserve_32_clients"]
        rows.append(("32 clients: rnnservice / LitServe requests per s",
                     round(many["requests_per_s"] / lit["requests_per_s"], 2), ">= 2"))
        rows.append(("LitServe 1 client p50 (ms)", f["litserve_1_client"]["p50_ms"], "reference"))
    if "torchserve_32_clients" in f:
        ts = f["torchserve_32_clients"]
        rows.append(("32 clients: rnnservice / TorchServe requests per s",
                     round(many["requests_per_s"] / ts["requests_per_s"], 2), "> 1"))
        rows.append(("TorchServe 1 client p50 (ms)", f["torchserve_1_client"]["p50_ms"], "reference"))
        rows.append(("32 clients: TorchServe server CPU ms a request", ts.get("server_cpu_ms_per_request"),
                     "reference"))
        rows.append(("32 clients: GET /healthz on our server / TorchServe predict",
                     round(f["healthz_32_clients"]["requests_per_s"] / ts["requests_per_s"], 2), "reference"))
    print(json.dumps({"summary": {name: value for name, value, _ in rows}}), flush=True)
    for name, value, goal in rows:
        print(f"{name:58} {value!s:>10}   goal {goal}")


if __name__ == "__main__":
    main()
