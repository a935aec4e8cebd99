"""A child of the local stack never outlives its supervisor, however the supervisor ends; an earlier run's live
processes are found through their pid files."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
from django.conf import settings

from controlplane.devstack.processes import ManagedProcess, PidFiles

# A supervisor as run_stack is one: it starts a child (which starts a grandchild of its own) and waits.
SUPERVISOR = """
import sys, time
from controlplane.devstack.processes import ManagedProcess
from tests.controlplane.devstack.test_processes import SPAWNS_A_GRANDCHILD
child = ManagedProcess("sleeper", SPAWNS_A_GRANDCHILD).start()
print(child.pid, flush=True)
time.sleep(600)
"""


def _descendants_of(pid: int, minimum: int = 3, timeout: float = 60) -> list[psutil.Process]:
    """The process's whole tree once it has `minimum` descendants (a supervisor: guard → child → grandchild)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        tree = psutil.Process(pid).children(recursive=True)
        if len(tree) >= minimum:
            return tree
        time.sleep(0.2)
    raise AssertionError(f"the tree of {pid} did not reach {minimum} processes: {tree}")


def _wait_gone(processes: list[psutil.Process], timeout: float = 60) -> list[int]:
    _, alive = psutil.wait_procs(processes, timeout=timeout)
    return [process.pid for process in alive if process.status() != psutil.STATUS_ZOMBIE]


@pytest.mark.parametrize("signum", [signal.SIGKILL, signal.SIGHUP, signal.SIGTERM])
def test_a_supervisor_killed_by_any_signal_leaves_no_child_or_grandchild(signum):
    supervisor = subprocess.Popen(
        [sys.executable, "-c", SUPERVISOR], cwd=settings.BASE_DIR, stdout=subprocess.PIPE, text=True
    )
    try:
        assert supervisor.stdout and supervisor.stdout.readline().strip().isdigit()
        tree = _descendants_of(supervisor.pid)
        supervisor.send_signal(signum)
        supervisor.wait(timeout=30)
        assert _wait_gone(tree) == []
    finally:
        if supervisor.poll() is None:
            supervisor.kill()


SPAWNS_A_GRANDCHILD = [
    sys.executable,
    "-c",
    "import subprocess, sys, time; subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(600)']); "
    "time.sleep(600)",
]


def test_stopping_a_child_stops_what_it_started():
    child = ManagedProcess("sleeper", SPAWNS_A_GRANDCHILD).start()
    assert child.pid is not None
    tree = [psutil.Process(child.pid), *_descendants_of(child.pid, minimum=2)]
    child.stop(timeout=30)
    assert not child.is_alive()
    assert _wait_gone(tree) == []


def test_pid_files_name_only_live_processes_of_this_checkout(tmp_path: Path):
    pid_files = PidFiles(tmp_path / "run")
    ours = ManagedProcess("sleeper", [sys.executable, "-c", "import time; time.sleep(600)"]).start()
    stranger = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    try:
        pid_files.write("web", ours.pid)
        pid_files.write("stranger", stranger.pid)  # a reused pid: not a process of the stack
        pid_files.write("gone", 2**22 + 7)
        assert pid_files.alive() == [("web", ours.pid)]
        ours.stop(timeout=30)
        assert pid_files.alive() == []
        pid_files.clear()
        assert list((tmp_path / "run").iterdir()) == []
    finally:
        ours.stop(timeout=5)
        stranger.kill()
        stranger.wait()
