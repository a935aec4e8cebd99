"""Helpers for tests that run the control plane as real processes (manage.py commands, a web server under uvicorn,
Celery): the same commands `make run` uses, on loopback ports, each process ended by the test that started it."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import httpx

from controlplane.devstack.processes import ManagedProcess, free_port

REPO_ROOT = Path(__file__).resolve().parents[1]
T = TypeVar("T")


def site_env(home: Path, **overrides: str) -> dict[str, str]:
    """The environment of a control plane run as live processes, on its own SQLite database and files under `home`."""
    return {
        "DJANGO_SETTINGS_MODULE": "controlplane.settings",
        "DATABASE_URL": f"sqlite:///{home / 'controlplane.sqlite3'}",
        "VAR_DIR": str(home),
        "ALLOWED_HOSTS": "127.0.0.1",
        "DEBUG": "false",
        "CACHE_URL": f"filecache://{home / 'cache'}",
        **overrides,
    }


def manage(env: dict[str, str], *args: str) -> str:
    """`python manage.py ARGS` with the test's environment on top of ours; fails the test on a non-zero exit."""
    done = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=REPO_ROOT,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def poll(condition: Callable[[], T], timeout: float = 90, step: float = 0.5, wanted: str = "condition") -> T:
    """Call `condition` until it returns something truthy; returns that. Deadlines are generous: CI may be slow."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = condition()
        if result:
            return result
        time.sleep(step)
    raise AssertionError(f"{wanted} not met within {timeout}s")


def wait_for_http(url: str, process: ManagedProcess, timeout: float = 90) -> None:
    """Until `url` answers at all (any status); fails at once if the process died."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.is_alive(), f"{process.name} exited"
        try:
            httpx.get(url, timeout=2)
            return
        except httpx.TransportError:
            time.sleep(0.3)
    raise AssertionError(f"{url} did not answer within {timeout}s")


def start_uvicorn(name: str, env: dict[str, str], home: Path) -> tuple[ManagedProcess, str]:
    """`controlplane.asgi` under uvicorn on a free loopback port, as `make run` serves it; returns once it answers."""
    port = free_port()
    command = [sys.executable, "-m", "uvicorn", "controlplane.asgi:application", "--host", "127.0.0.1"]
    command += ["--port", str(port), "--workers", "1", "--no-access-log"]
    process = ManagedProcess(name, command, env, log_file=home / f"{name}.log", cwd=REPO_ROOT).start()
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for_http(f"{url}/admin/login/", process)
    except BaseException:
        process.stop()
        raise
    return process, url


def start_celery(name: str, env: dict[str, str], home: Path, *args: str) -> ManagedProcess:
    """`celery -A controlplane ARGS` (a worker or beat), logging to `home/NAME.log`."""
    command = [str(Path(sys.executable).with_name("celery")), "-A", "controlplane", *args]
    return ManagedProcess(name, command, env, log_file=home / f"{name}.log", cwd=REPO_ROOT).start()
