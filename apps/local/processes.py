"""Run a few long-lived programs as one: each line they print prefixed with their name, all of them stopped
together on SIGINT (Ctrl-C), SIGTERM or SIGHUP, or as soon as one of them exits.

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
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import TextIO

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
POLL_SECONDS = 0.2


@dataclass(frozen=True)
class Program:
    name: str
    argv: Sequence[str]


class Supervisor:
    """start() the programs, then run() until a stop signal or until one exits; run() stops them all.

    run() returns 0 when it was asked to stop (whether or not a program had to be killed), 1 when a program
    exited first; it must be called from the main thread, where signal handlers live. request_stop() may be
    called from any.
    """

    def __init__(self, programs: Sequence[Program], *, cwd: Path, env: Mapping[str, str], out: TextIO,
                 grace: float = 10.0):
        self.programs, self.cwd, self.env, self.out, self.grace = programs, cwd, dict(env), out, grace
        self.processes: dict[str, subprocess.Popen] = {}
        self._pumps: list[threading.Thread] = []
        self._stop = threading.Event()
        self._kill = threading.Event()
        self._lock = threading.Lock()
        self._width = max(len(program.name) for program in programs)

    def start(self) -> None:
        """Start every program; their output is read only once all are started (see die_with_parent)."""
        preexec = die_with_parent()
        try:
            for program in self.programs:
                self.processes[program.name] = subprocess.Popen(
                    program.argv, cwd=self.cwd, env=self.env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                    stderr=subprocess.STDOUT, process_group=0, preexec_fn=preexec)
        except BaseException:
            self._terminate_all(signal.SIGKILL)
            for process in self.processes.values():
                process.wait()
            raise
        for name, process in self.processes.items():
            pump = threading.Thread(target=self._pump, args=(name, process), name=f"output of {name}", daemon=True)
            pump.start()
            self._pumps.append(pump)

    def run(self) -> int:
        previous = {number: signal.signal(number, self._on_signal) for number in STOP_SIGNALS}
        try:
            exited = self._wait_for_stop_or_exit()
            if exited:
                self.say(f"{exited} exited with status {self.processes[exited].returncode}; stopping the others")
            self._stop_all()
            return 1 if exited else 0
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

    def _wait_for_stop_or_exit(self) -> str | None:
        """The name of the first program that exited, or None when asked to stop first."""
        while not self._stop.wait(POLL_SECONDS):
            for name, process in self.processes.items():
                if process.poll() is not None:
                    return name
        return None

    def _stop_all(self) -> None:
        """SIGTERM every group, wait up to `grace` seconds, SIGKILL what is left."""
        running = [name for name, process in self.processes.items() if process.poll() is None]
        if running:
            self.say(f"stopping {', '.join(running)} (Ctrl-C again to kill them at once)")
        self._terminate_all(signal.SIGTERM)
        deadline = time.monotonic() + self.grace
        while (any(process.poll() is None for process in self.processes.values())
               and time.monotonic() < deadline and not self._kill.is_set()):
            time.sleep(POLL_SECONDS)
        stubborn = [name for name, process in self.processes.items() if process.poll() is None]
        if stubborn:
            self.say(f"killing {', '.join(stubborn)}: still running after {self.grace:g} s")
        # Every group, stopped leaders' included: a program's own children may outlive it.
        self._terminate_all(signal.SIGKILL)
        for process in self.processes.values():
            process.wait()
        for pump in self._pumps:
            pump.join(timeout=2)
        self.say("stopped")

    def _terminate_all(self, number: int) -> None:
        for process in self.processes.values():
            try:
                os.killpg(process.pid, number)        # the group's id is its leader's pid (process_group=0)
            except (ProcessLookupError, PermissionError):
                pass                                  # the whole group is gone already

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
