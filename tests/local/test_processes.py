"""Tests for apps/local/processes.py with small shell programs: no Django, a few seconds in all."""
from __future__ import annotations

import io
import os
import threading
import time
from pathlib import Path

from apps.local.processes import Program, Supervisor


def alive(pid: int) -> bool:
    """True while `pid` runs (a zombie waiting for its parent counts as gone)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ")[-1][0] != "Z"
    except FileNotFoundError:
        return False


def supervisor(tmp_path: Path, *programs: Program, grace: float = 5.0, **restarts) -> tuple[Supervisor, io.StringIO]:
    out = io.StringIO()
    return Supervisor(programs, cwd=tmp_path, env=dict(os.environ), out=out, grace=grace, **restarts), out


def test_it_prefixes_each_line_with_its_program_and_stops_all_when_asked(tmp_path):
    runner, out = supervisor(tmp_path, Program("one", ["sh", "-c", "echo hello; exec sleep 60"]),
                             Program("second", ["sh", "-c", "echo world; exec sleep 60"]))
    runner.start()
    threading.Timer(1.0, runner.request_stop).start()

    assert runner.run() == 0

    lines = out.getvalue().splitlines()
    assert "   one | hello" in lines and "second | world" in lines
    assert lines[-1] == "       | stopped"
    assert [process.returncode for process in runner.processes.values()] == [-15, -15]     # SIGTERM


def test_it_starts_a_program_that_died_again_and_the_others_run_on(tmp_path):
    marker = tmp_path / "died-once"
    # Dies on its first start (as a worker a broker fault killed), runs on its second.
    flaky = Program("worker", ["sh", "-c", f"if [ -e {marker} ]; then echo back; exec sleep 60; fi; "
                                            f"touch {marker}; exit 3"])
    runner, out = supervisor(tmp_path, Program("server", ["sleep", "60"]), flaky, restart_delay=0.1)
    runner.start()
    server = runner.processes["server"].pid
    deadline = time.monotonic() + 10
    threading.Thread(target=lambda: (wait_for_line(out, "worker | back", deadline), runner.request_stop())).start()

    assert runner.run() == 0                                   # asked to stop, after the restart

    assert "worker exited with status 3; starting it again in 0.1 s" in out.getvalue()
    assert runner.processes["server"].pid == server            # the others ran on, untouched
    assert [process.returncode for process in runner.processes.values()] == [-15, -15]


def test_it_stops_the_others_when_one_keeps_exiting(tmp_path):
    runner, out = supervisor(tmp_path, Program("server", ["sleep", "60"]), Program("broken", ["sh", "-c", "exit 3"]),
                             restarts=2, restart_delay=0.1)
    runner.start()

    assert runner.run() == 1

    assert out.getvalue().count("broken exited with status 3; starting it again") == 2
    assert "broken exited with status 3, 3 times within 60 s; stopping the others" in out.getvalue()
    assert not alive(runner.processes["server"].pid)


def wait_for_line(out: io.StringIO, line: str, deadline: float) -> None:
    while line not in out.getvalue().splitlines() and time.monotonic() < deadline:
        time.sleep(0.05)


def test_it_kills_what_ignores_sigterm_after_the_grace_time_and_its_children_too(tmp_path):
    pid_file = tmp_path / "child.pid"
    # The shell ignores SIGTERM, and so does the child it starts: only SIGKILL to the group ends both.
    stubborn = Program("stubborn", ["sh", "-c", f"trap '' TERM; sleep 60 & echo $! > {pid_file}; wait"])
    runner, out = supervisor(tmp_path, stubborn, grace=0.5)
    runner.start()
    deadline = time.monotonic() + 5
    while not pid_file.exists() or not pid_file.read_text().strip():
        assert time.monotonic() < deadline
        time.sleep(0.05)
    runner.request_stop()

    started = time.monotonic()
    assert runner.run() == 0                              # asked to stop: killing is part of stopping
    assert time.monotonic() - started < 3

    assert "killing stubborn: still running after 0.5 s" in out.getvalue()
    assert runner.processes["stubborn"].returncode == -9
    child = int(pid_file.read_text())
    deadline = time.monotonic() + 2
    while alive(child) and time.monotonic() < deadline:   # reparented to init, which reaps it
        time.sleep(0.05)
    assert not alive(child)
