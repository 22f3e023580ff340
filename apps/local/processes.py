"""The one way the project starts and stops its processes: start_process (a process group of its own, stopped
with its parent on Linux) and stop_processes (SIGTERM to each group, SIGKILL to what is left after a grace time),
which `manage.py run_local`, the benchmarks' service (bench/server.py) and the tests' workers and servers
(tests/processes.py) all use; and Supervisor, run_local's: a few long-lived programs run as one, each line they
print prefixed with their name, all of them stopped together on SIGINT (Ctrl-C), SIGTERM or SIGHUP, or as soon as
one of them exits.

Each program runs in a process group of its own, so that Ctrl-C in the terminal reaches only the supervisor,
which then stops the programs in its own way: SIGTERM to each group (a Celery worker's warm shutdown: it ends
the task in hand), then SIGKILL to what is left after `grace` seconds, or at once on a second Ctrl-C. A
group takes the program's own children with it (a prefork pool, a server's reloader). On Linux each program
also gets SIGTERM should the supervisor die without stopping them (PR_SET_PDEATHSIG), so none is left behind.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import os
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import IO, TextIO

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
POLL_SECONDS = 0.2


def start_process(argv: Sequence[str], *, cwd: Path, env: Mapping[str, str], stdout: int | IO[bytes],
                  orphaned_stop: bool = True) -> subprocess.Popen:
    """`argv` in a process group of its own (stop_processes signals the whole group: a server's workers, a pool's
    processes), stdin closed, stderr into `stdout` (a file, or subprocess.PIPE). With `orphaned_stop`, Linux sends
    it SIGTERM should this process die first (die_with_parent): start such processes before other threads run."""
    return subprocess.Popen(argv, cwd=cwd, env=dict(env), stdin=subprocess.DEVNULL, stdout=stdout,
                            stderr=subprocess.STDOUT, process_group=0,
                            preexec_fn=die_with_parent() if orphaned_stop else None)


def signal_groups(processes: Iterable[subprocess.Popen], number: int) -> None:
    """Send `number` to each process's group (whose id is its leader's pid: start_process made it one)."""
    for process in processes:
        try:
            os.killpg(process.pid, number)
        except (ProcessLookupError, PermissionError):
            pass                                  # the whole group is gone already


def stop_processes(processes: Sequence[subprocess.Popen], *, grace: float, signal_number: int = signal.SIGTERM,
                   interrupted: Callable[[], bool] = lambda: False) -> list[subprocess.Popen]:
    """Stop `processes` gently: `signal_number` (SIGTERM: a Celery worker's warm shutdown, ending the task in
    hand) to each group, up to `grace` seconds (or until `interrupted()`) for them to exit, then SIGKILL to every
    group, stopped leaders' included (a program's own children may outlive it), and wait for each. Returns those
    that had to be killed."""
    signal_groups([process for process in processes if process.poll() is None], signal_number)
    deadline = time.monotonic() + grace
    try:
        while (any(process.poll() is None for process in processes) and time.monotonic() < deadline
               and not interrupted()):
            time.sleep(POLL_SECONDS)
    finally:                                      # a Ctrl-C while waiting kills at once, leaving nothing behind
        stubborn = [process for process in processes if process.poll() is None]
        signal_groups(processes, signal.SIGKILL)
        for process in processes:
            process.wait()
    return stubborn


@dataclass(frozen=True)
class Program:
    name: str
    argv: Sequence[str]


class Supervisor:
    """start() the programs, then run() until a stop signal; run() stops them all.

    A program that exits meanwhile is started again after `restart_delay` seconds (a worker that died of a fault
    carries on), unless it has exited more than `restarts` times within `restart_window` seconds: then it is
    broken (a port in use, a bad setting), and run() stops the others. run() returns 0 when it was asked to stop
    (whether or not a program had to be killed), 1 when a program kept exiting; it must be called from the main
    thread, where signal handlers live. request_stop() may be called from any.
    """

    def __init__(self, programs: Sequence[Program], *, cwd: Path, env: Mapping[str, str], out: TextIO,
                 grace: float = 10.0, restarts: int = 3, restart_window: float = 60.0, restart_delay: float = 1.0):
        self.programs, self.cwd, self.env, self.out, self.grace = programs, cwd, dict(env), out, grace
        self.restarts, self.restart_window, self.restart_delay = restarts, restart_window, restart_delay
        self.processes: dict[str, subprocess.Popen] = {}
        self._exits: dict[str, deque[float]] = {program.name: deque() for program in programs}
        self._pumps: list[threading.Thread] = []
        self._stop = threading.Event()
        self._kill = threading.Event()
        self._lock = threading.Lock()
        self._width = max(len(program.name) for program in programs)

    def start(self) -> None:
        """Start every program; their output is read only once all are started (see die_with_parent)."""
        try:
            for program in self.programs:
                self.processes[program.name] = start_process(program.argv, cwd=self.cwd, env=self.env,
                                                             stdout=subprocess.PIPE)
        except BaseException:
            stop_processes(list(self.processes.values()), grace=0)
            raise
        for name, process in self.processes.items():
            self._read_output(name, process)

    def run(self) -> int:
        previous = {number: signal.signal(number, self._on_signal) for number in STOP_SIGNALS}
        try:
            while (exited := self._wait_for_stop_or_exit()) is not None:
                if not self._restart(exited):
                    self._stop_all()
                    return 1
            self._stop_all()
            return 0
        finally:
            for number, handler in previous.items():
                signal.signal(number, handler)

    def request_stop(self) -> None:
        """The first call stops the programs gently; a second one kills what is left at once."""
        if self._stop.is_set():
            self._kill.set()
        self._stop.set()

    def say(self, message: str) -> None:
        self._write(f"{'':>{self._width}} | {message}\n")

    def _on_signal(self, number: int, frame: FrameType | None) -> None:
        self.request_stop()

    def _restart(self, name: str) -> bool:
        """Start the program `name`, which exited, again; False when it has exited too often to be worth it."""
        status, now, exits = self.processes[name].returncode, time.monotonic(), self._exits[name]
        exits.append(now)
        while exits[0] < now - self.restart_window:
            exits.popleft()
        if len(exits) > self.restarts:
            self.say(f"{name} exited with status {status}, {len(exits)} times within {self.restart_window:g} s; "
                     "stopping the others")
            return False
        self.say(f"{name} exited with status {status}; starting it again in {self.restart_delay:g} s")
        if self._stop.wait(self.restart_delay):
            return True                           # asked to stop meanwhile: run() stops the others
        # Output threads run by now; the child's pre-exec hook only calls prctl, which takes no lock they hold.
        program = next(program for program in self.programs if program.name == name)
        self.processes[name] = process = start_process(program.argv, cwd=self.cwd, env=self.env,
                                                       stdout=subprocess.PIPE)
        self._read_output(name, process)
        return True

    def _read_output(self, name: str, process: subprocess.Popen) -> None:
        pump = threading.Thread(target=self._pump, args=(name, process), name=f"output of {name}", daemon=True)
        pump.start()
        self._pumps.append(pump)

    def _wait_for_stop_or_exit(self) -> str | None:
        """The name of the first program that exited, or None when asked to stop first."""
        while not self._stop.wait(POLL_SECONDS):
            for name, process in self.processes.items():
                if process.poll() is not None:
                    return name
        return None

    def _stop_all(self) -> None:
        """SIGTERM every group, wait up to `grace` seconds (or a second Ctrl-C), SIGKILL what is left."""
        running = [name for name, process in self.processes.items() if process.poll() is None]
        if running:
            self.say(f"stopping {', '.join(running)} (Ctrl-C again to kill them at once)")
        stubborn = stop_processes(list(self.processes.values()), grace=self.grace, interrupted=self._kill.is_set)
        if stubborn:
            names = [name for name, process in self.processes.items() if process in stubborn]
            self.say(f"killing {', '.join(names)}: still running after {self.grace:g} s")
        for pump in self._pumps:
            pump.join(timeout=2)
        self.say("stopped")

    def _pump(self, name: str, process: subprocess.Popen) -> None:
        assert process.stdout is not None
        prefix = f"{name:>{self._width}} | "
        for line in process.stdout:
            self._write(prefix + line.decode("utf-8", errors="replace").rstrip("\r\n") + "\n")
        process.stdout.close()

    def _write(self, text: str) -> None:
        with self._lock:
            try:
                self.out.write(text)
                self.out.flush()
            except (BrokenPipeError, ValueError):   # the terminal or the pipe is gone; keep the programs going
                pass


def die_with_parent() -> Callable[[], None] | None:
    """A preexec_fn asking Linux to send SIGTERM to the child when the supervisor dies; None elsewhere.

    It runs in the forked child before exec, where only async-signal-safe calls belong: the C library is
    found here, beforehand, and the child only calls prctl. Every program is started before any output thread
    (see start()), since a fork while other threads run can deadlock in preexec_fn.
    """
    if not sys.platform.startswith("linux"):
        return None
    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    parent = os.getpid()
    pr_set_pdeathsig = 1

    def set_death_signal() -> None:
        libc.prctl(pr_set_pdeathsig, signal.SIGTERM)
        if os.getppid() != parent:                  # the supervisor died before prctl: nobody would stop us
            os._exit(1)
    return set_death_signal
