"""A real rnnservice for the benchmarks that need one: a fresh RNNSERVICE_HOME, the web server and Celery workers run
from this virtual environment, models trained through `manage.py`, and every process stopped on exit.

    with ServiceUnderTest(home=tmp, web_workers=1, web_threads=8, worker_queues=(), log=print) as svc:
        name, version = svc.train_model("upos", "tagging", "train.conllu", config={"training": {"epochs": 2}})
        result = run_load(f"{svc.url}/api/models/{name}/predict/", bodies=[{"inputs": ["A test ."]}],
                          clients=32, seconds=60, headers=svc.headers)
        svc.restart_web(env={"SERVING_BATCHING": "false"})        # the same port, another environment

Everything goes through the project's own commands (`migrate`, `createsuperuser`, `drf_create_token`,
`import_dataset --wait`, `train --sync`, `promote`) and programs (`python -m rnnservice.server`, granian,
`celery -A rnnservice.celery worker`), each in a process group of its own, so that stopping a group takes the
program's children with it (granian's workers). Production settings: DJANGO_DEBUG=false and a secret key made for
this run. Nothing is printed: the programs write to RNNSERVICE_HOME/logs/NAME.log (an error quotes its tail),
and what this module has to say goes to the `log` callback.

The state is SQLite and the file-system broker under `home` unless `env` names DATABASE_URL and CELERY_BROKER_URL;
those, and the other settings that place state (MODELS_STORE, MODELS_STORE_URL, CACHE_URL, ...: NOT_INHERITED), are
never inherited from the calling environment, so a benchmark cannot touch a real deployment by accident.
"""
from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, NamedTuple

# SIGTERM to a child when this process dies, so that a killed benchmark leaves no server behind.
from apps.local.processes import die_with_parent, signal_groups, start_process, stop_processes

ROOT = Path(__file__).resolve().parent.parent
# Settings that place state, bind a port or would keep 127.0.0.1 out: from `env` only, never from the caller's shell.
NOT_INHERITED = ("RNNSERVICE_HOME", "DATABASE_URL", "CELERY_BROKER_URL", "CACHE_URL", "MODELS_STORE", "MEDIA_ROOT",
                 "STATIC_ROOT", "MODELS_STORE_URL", "MEDIA_STORE_URL", "PROMETHEUS_MULTIPROC_DIR",
                 "METRICS_WORKER_PORT", "DJANGO_SETTINGS_MODULE", "DJANGO_DEBUG", "DJANGO_SECRET_KEY",
                 "DJANGO_SUPERUSER_PASSWORD", "DJANGO_ALLOWED_HOSTS", "DJANGO_HTTPS", "WEB_HOST", "WEB_PORT",
                 "WEB_WORKERS", "WEB_THREADS")
WEB_SERVER = [sys.executable, "-m", "rnnservice.server"]
CELERY = [sys.executable, "-m", "celery", "-A", "rnnservice.celery"]
POLL_SECONDS = 0.2
LOG_TAIL_CHARS = 3000


class ServiceUnderTestError(RuntimeError):
    """A command failed, or a program exited or did not get ready in time; the message quotes its output."""


class TrainedModel(NamedTuple):
    name: str
    version: int


@dataclass
class _Running:
    name: str
    popen: subprocess.Popen
    log_path: Path
    log_start: int                                  # where this start's output begins in the log file

    def output(self, chars: int = LOG_TAIL_CHARS) -> str:
        """The last `chars` characters this start of the program wrote."""
        try:
            with self.log_path.open("rb") as log:
                log.seek(max(self.log_start, self.log_path.stat().st_size - chars))
                return log.read().decode("utf-8", errors="replace")
        except OSError:
            return ""


class ServiceUnderTest:
    """The service in a fresh `home` (a folder that is missing or empty; None: a temporary one, removed on exit).

    `env` is added to every process's environment (over the production defaults); `web_env` to the web server's and
    `worker_env` to the Celery programs' only (start_web, restart_web and start_workers take others later).
    `worker_queues`: one solo-pool Celery worker per queue ("default" validates uploads, "training" trains);
    `beat`: also celery beat. Entering runs bootstrap(), then start() unless start=False.
    Processes are started from the calling thread, and get SIGTERM when that thread ends (Linux's parent-death
    signal belongs to the thread that forked): keep the service in a thread that outlives it.
    """

    def __init__(self, home: str | Path | None = None, *, web_workers: int = 1, web_threads: int = 8,
                 worker_queues: Sequence[str] = ("default", "training"), beat: bool = False,
                 env: Mapping[str, str] | None = None, web_env: Mapping[str, str] | None = None,
                 worker_env: Mapping[str, str] | None = None, start: bool = True, username: str = "bench",
                 log: Callable[[str], None] | None = None, ready_timeout: float = 120.0, stop_timeout: float = 20.0):
        self._own_home = home is None
        self.home = Path(home if home is not None else tempfile.mkdtemp(prefix="rnnservice-bench-")).resolve()
        if self.home.exists() and any(self.home.iterdir()):
            raise ServiceUnderTestError(f"{self.home}: RNNSERVICE_HOME must be a new or empty folder")
        self.web_workers, self.web_threads = web_workers, web_threads
        self.worker_queues, self.beat = tuple(worker_queues), beat
        self.username, self.password, self.token = username, secrets.token_urlsafe(16), ""
        self.ready_timeout, self.stop_timeout = ready_timeout, stop_timeout
        self.datasets: dict[str, int] = {}          # name -> id, of the data sets imported here
        self._log = log or (lambda message: None)
        self._autostart = start
        self._tag = secrets.token_hex(3)            # in node names: unique on a broker shared with others
        self._port: int | None = None
        self._web_env, self._worker_env = dict(web_env or {}), dict(worker_env or {})
        self._running: dict[str, _Running] = {}
        self._death_signal = die_with_parent()
        inherited = {key: value for key, value in os.environ.items() if key not in NOT_INHERITED}
        self.env = {**inherited, "RNNSERVICE_HOME": str(self.home), "DJANGO_SETTINGS_MODULE": "rnnservice.settings",
                    "DJANGO_DEBUG": "false", "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
                    "PYTHONUNBUFFERED": "1", **(env or {})}

    # -- context manager ------------------------------------------------------------------------------------

    def __enter__(self) -> ServiceUnderTest:
        try:
            self.bootstrap()
            if self._autostart:
                self.start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        """Stop every process started here; remove `home` when it was made here."""
        self.stop()
        if self._own_home:
            shutil.rmtree(self.home, ignore_errors=True)

    # -- state: database, user, data sets, models -----------------------------------------------------------

    def bootstrap(self) -> None:
        """Apply the migrations, make the user (a superuser: it sees every model) and its API token."""
        self.home.mkdir(parents=True, exist_ok=True)
        (self.home / "logs").mkdir(exist_ok=True)
        self.manage("migrate", "--noinput", "-v", "0")
        self.manage("createsuperuser", "--noinput", "--username", self.username,
                    "--email", f"{self.username}@example.invalid", env={"DJANGO_SUPERUSER_PASSWORD": self.password})
        out = self.manage("drf_create_token", self.username)
        self.token = _match(r"Generated token (\S+) for user", out, "drf_create_token").group(1)
        self._log(f"service home {self.home}; user {self.username!r} with a token")

    def manage(self, *args: str, env: Mapping[str, str] | None = None, timeout: float | None = None) -> str:
        """Run `manage.py ARGS...` in the service's environment (plus `env`); its stdout. Raises
        ServiceUnderTestError quoting the output when it exits non-zero or runs past `timeout` seconds."""
        argv = [sys.executable, "manage.py", *args]
        self._log("manage.py " + " ".join(args))
        try:
            done = subprocess.run(argv, cwd=ROOT, env={**self.env, **(env or {})}, stdin=subprocess.DEVNULL,
                                  capture_output=True, text=True, timeout=timeout, preexec_fn=self._death_signal)
        except subprocess.TimeoutExpired as exc:
            raise ServiceUnderTestError(f"manage.py {' '.join(args)}: still running after {timeout:g} s") from exc
        for line in done.stdout.splitlines():
            self._log(f"  {line}")
        if done.returncode != 0:
            raise ServiceUnderTestError(f"manage.py {' '.join(args)} exited with status {done.returncode}:\n"
                                        + (done.stdout + done.stderr)[-LOG_TAIL_CHARS:])
        return done.stdout

    def import_dataset(self, name: str, task: str, train_path: str | Path, *, dev_path: str | Path | None = None,
                       test_path: str | Path | None = None, format: str | None = None) -> int:
        """Import and validate a data set owned by the user (`manage.py import_dataset --wait`); its id.
        Translation files may be given as "SOURCE,TARGET", as the command takes them."""
        args = ["import_dataset", name, "--task", task, "--train", str(train_path), "--owner", self.username, "--wait"]
        for option, value in (("--dev", dev_path), ("--test", test_path), ("--format", format)):
            if value is not None:
                args += [option, str(value)]
        out = self.manage(*args)
        self.datasets[name] = int(_match(r'^dataset (\d+) "', out, "import_dataset").group(1))
        return self.datasets[name]

    def train_model(self, name: str, task: str, train_path: str | Path, config: Mapping[str, Any] | None = None,
                    dev_path: str | Path | None = None, *, dataset: str | None = None, alias: str | None = "production",
                    env: Mapping[str, str] | None = None, timeout: float | None = None) -> TrainedModel:
        """Train a version of model `name` in a child process (`manage.py train --sync`) and point `alias` at it
        (`manage.py promote`; None: no alias). The data set is `dataset` (default: `name`), imported from
        train_path/dev_path unless this service imported it already. `config`: the "tokenizer", "architecture"
        and "training" sections, as in `manage.py train --config`; `env`: more environment for the training
        process (OMP_NUM_THREADS, RNNSERVICE_DEVICE...)."""
        dataset = dataset or name
        if dataset not in self.datasets:
            self.import_dataset(dataset, task, train_path, dev_path=dev_path)
        config_path = self.home / "configs" / f"{name}-{secrets.token_hex(3)}.json"
        config_path.parent.mkdir(exist_ok=True)
        config_path.write_text(json.dumps(dict(config or {})), encoding="utf-8")
        out = self.manage("train", str(self.datasets[dataset]), "--model", name, "--config", str(config_path),
                          "--sync", env=env, timeout=timeout)
        found = _match(r"^job \d+ succeeded: (\S+) version (\d+)", out, "train")
        trained = TrainedModel(found.group(1), int(found.group(2)))
        if alias:
            self.manage("promote", trained.name, str(trained.version), "--alias", alias)
        return trained

    # -- programs -------------------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        if self._port is None:
            raise ServiceUnderTestError("the web server was never started")
        return f"http://127.0.0.1:{self._port}"

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Token {self.token}"}

    def start(self) -> None:
        """Start the workers, then the web server, and wait until each is ready."""
        self.start_workers()
        self.start_web()

    def start_web(self, *, env: Mapping[str, str] | None = None, workers: int | None = None,
                  threads: int | None = None) -> None:
        """Start the web server on 127.0.0.1 (the port of its last start, else a free one) with `env` over the service's
        environment (None: the last start's, at first `web_env`), and wait until /readyz answers 200. `workers`
        and `threads` replace the constructor's."""
        if "web" in self._running:
            raise ServiceUnderTestError("the web server is running already; restart_web() starts it again")
        if env is not None:
            self._web_env = dict(env)
        self.web_workers = workers or self.web_workers
        self.web_threads = threads or self.web_threads
        for attempt in range(3):
            self._port = self._port if self._port is not None and attempt == 0 else _free_port()
            process = self._spawn("web", WEB_SERVER, {**self._web_env, "WEB_HOST": "127.0.0.1",
                                                     "WEB_PORT": str(self._port), "WEB_WORKERS": str(self.web_workers),
                                                     "WEB_THREADS": str(self.web_threads)})
            try:
                self._wait_for_readyz(process)
            except ServiceUnderTestError:
                self._stop([process])
                # Another program took the port between _free_port() and the server's bind: try another one.
                if "in use" not in process.output() or attempt == 2:
                    raise
                continue
            self._log(f"web ready at {self.url} (granian: workers {self.web_workers}, threads "
                      f"{self.web_threads}; pid {process.popen.pid})")
            return

    def restart_web(self, *, env: Mapping[str, str] | None = None, workers: int | None = None,
                    threads: int | None = None) -> None:
        """Stop the web server and start it again on the same port: with `env` instead of the last start's extra
        environment (None keeps it), and `workers`/`threads` when given. Loaded models are loaded again."""
        self.stop_web()
        self.start_web(env=env, workers=workers, threads=threads)

    def start_workers(self, queues: Iterable[str] | None = None, *, env: Mapping[str, str] | None = None) -> None:
        """Start a solo-pool Celery worker for each queue (default: the constructor's), and celery beat when
        asked for, with `env` over the service's environment (None: `worker_env`), and wait until each worker
        says it is ready."""
        env = self._worker_env if env is None else env
        started = []
        for queue in self.worker_queues if queues is None else queues:
            name = f"worker-{queue}"
            if name in self._running:
                raise ServiceUnderTestError(f"{name} is running already")
            # One task at a time, as in production; no gossip or mingle: nothing to sync with, and each costs seconds.
            argv = [*CELERY, "worker", "-Q", queue, "-n", f"{queue}-{self._tag}@%h", "--pool", "solo", "-c", "1",
                    "--without-gossip", "--without-mingle", "--loglevel", "INFO"]
            started.append(self._spawn(name, argv, env))
        if self.beat and "beat" not in self._running and queues is None:
            self._spawn("beat", [*CELERY, "beat", "--loglevel", "INFO"], env)
        for process in started:
            self._wait_for_log(process, " ready.")
            self._log(f"{process.name} ready (pid {process.popen.pid})")

    def stop_web(self) -> None:
        self._stop([self._running[name] for name in ("web",) if name in self._running])

    def stop_workers(self) -> None:
        self._stop([process for name, process in self._running.items() if name != "web"])

    def stop(self) -> None:
        """Stop every program started here: SIGTERM to each process group (granian ends its requests in hand,
        a Celery worker its task in hand), SIGKILL to what is left after `stop_timeout` seconds."""
        self._stop(list(self._running.values()))

    def pids(self) -> dict[str, list[int]]:
        """The pids of each running program: its leader first, then the rest of its process group (granian's
        workers), e.g. {"web": [master, worker], "worker-training": [pid]}."""
        return {name: group_members(process.popen.pid) for name, process in self._running.items()
                if process.popen.poll() is None}

    def memory_mb(self) -> dict[str, float]:
        """Resident memory of each running program, all its processes together, in MiB."""
        return {name: round(sum(_rss_bytes(pid) for pid in pids) / 2**20, 1) for name, pids in self.pids().items()}

    def log_path(self, name: str) -> Path:
        """The file a program writes its output to ("web", "worker-training", "beat"); it grows over restarts."""
        return self.home / "logs" / f"{name}.log"

    # -- HTTP -----------------------------------------------------------------------------------------------

    def request(self, method: str, path: str, body: Any = None, *, timeout: float = 30.0) -> tuple[int, Any]:
        """(status, decoded JSON or text) of one API call as the user, body sent as JSON; no exception for a 4xx
        or 5xx. For setting up and checking, not for load: see bench/loadgen.py."""
        data = None if body is None else json.dumps(body).encode()
        call = urllib.request.Request(f"{self.url}{path}", data=data, method=method,
                                      headers={**self.headers, "Content-Type": "application/json",
                                               "Accept": "application/json"})
        try:
            with urllib.request.urlopen(call, timeout=timeout) as response:
                status, raw = response.status, response.read()
        except urllib.error.HTTPError as exc:
            status, raw = exc.code, exc.read()
        try:
            return status, json.loads(raw)
        except ValueError:
            return status, raw.decode("utf-8", errors="replace")

    # -- inside ---------------------------------------------------------------------------------------------

    def _spawn(self, name: str, argv: list[str], env: Mapping[str, str]) -> _Running:
        log_path = self.log_path(name)
        log_path.parent.mkdir(parents=True, exist_ok=True)
        with log_path.open("ab") as out:
            start = out.tell()
            out.write(f"==== {time.strftime('%H:%M:%S')} {' '.join(argv)}\n".encode())
            out.flush()
            popen = start_process(argv, cwd=ROOT, env={**self.env, **env}, stdout=out)
        self._running[name] = process = _Running(name, popen, log_path, start)
        return process

    def _stop(self, processes: list[_Running]) -> None:
        if not processes:
            return
        self._log(f"stopping {', '.join(process.name for process in processes)}")
        try:
            stubborn = stop_processes([process.popen for process in processes], grace=self.stop_timeout)
        finally:
            for process in processes:
                self._running.pop(process.name, None)
        if stubborn:
            self._log(f"killed {', '.join(p.name for p in processes if p.popen in stubborn)}: still running after "
                      f"{self.stop_timeout:g} s")

    def _wait_for_readyz(self, process: _Running) -> None:
        deadline = time.monotonic() + self.ready_timeout
        while time.monotonic() < deadline:
            self._check_alive(process)
            try:
                with urllib.request.urlopen(f"{self.url}/readyz", timeout=5) as response:
                    if response.status == 200:
                        return
            except (OSError, urllib.error.HTTPError):  # not listening yet, or a 503 while the broker is not ready
                pass
            time.sleep(POLL_SECONDS)
        raise ServiceUnderTestError(f"{process.name}: {self.url}/readyz did not answer 200 within "
                                    f"{self.ready_timeout:g} s; its log ends:\n{process.output()}")

    def _wait_for_log(self, process: _Running, text: str) -> None:
        deadline = time.monotonic() + self.ready_timeout
        while time.monotonic() < deadline:
            self._check_alive(process)
            if text in process.output(20_000):
                return
            time.sleep(POLL_SECONDS)
        raise ServiceUnderTestError(f"{process.name} did not get ready within {self.ready_timeout:g} s; its log "
                                    f"ends:\n{process.output()}")

    def _check_alive(self, process: _Running) -> None:
        if process.popen.poll() is not None:
            self._running.pop(process.name, None)
            signal_groups([process.popen], signal.SIGKILL)    # what the program started may outlive it
            raise ServiceUnderTestError(f"{process.name} exited with status {process.popen.returncode}; its log "
                                        f"ends:\n{process.output()}")


def stat_fields(pid: int | str) -> list[str] | None:
    """The fields of /proc/PID/stat after the command name, which may hold spaces and parentheses: state, ppid,
    pgrp, ..., utime ([11]) and stime ([12]) in clock ticks. None when the process is gone."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


def group_members(group: int) -> list[int]:
    """The living processes of a process group: its leader (whose pid is the group's id) first, then the rest."""
    members = [int(entry.name) for entry in Path("/proc").iterdir()
               if entry.name.isdigit() and (fields := stat_fields(entry.name)) and int(fields[2]) == group]
    return sorted(members, key=lambda pid: (pid != group, pid))


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _rss_bytes(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError):
        pass
    return 0


def _match(pattern: str, text: str, command: str) -> re.Match[str]:
    found = re.search(pattern, text, re.MULTILINE)
    if found is None:
        raise ServiceUnderTestError(f"manage.py {command}: unexpected output (looked for {pattern!r}):\n{text[-1000:]}")
    return found
