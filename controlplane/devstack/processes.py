"""Child processes of the local stack (Prefect server, flow server, Celery, web), shared by `manage.py run_stack`
and the test suite's Prefect server fixture."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO

import httpx


class StackError(Exception):
    """A part of the stack could not start; the message says which and why."""


def port_is_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
        return True


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


# Where Prefect's UI is served (its server's PREFECT_UI_SERVE_BASE); the control plane's gateway answers there.
PREFECT_UI_BASE = "/prefect"


def prefect_server_env(
    home: Path, port: int, host: str = "127.0.0.1", *, auth_string: str = "", ui_api_url: str = ""
) -> dict[str, str]:
    """Environment for a local Prefect server on SQLite under `home` (analytics off: it locks SQLite).

    With `auth_string` its API is locked (`PREFECT_SERVER_API_AUTH_STRING`; only `/api/health` stays open) and the
    environment's clients send it. Its UI is served under `/prefect`, reading its API from `ui_api_url` (the
    control plane's gateway, which adds the credential) — by default the server's own API.
    """
    home.mkdir(parents=True, exist_ok=True)
    api_url = f"http://{host}:{port}/api"
    env = {
        "PREFECT_HOME": str(home),
        "PREFECT_SERVER_DATABASE_CONNECTION_URL": f"sqlite+aiosqlite:///{home / 'prefect.db'}",
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_SERVER_API_HOST": host,
        "PREFECT_SERVER_API_PORT": str(port),
        "PREFECT_API_URL": api_url,
        "PREFECT_UI_SERVE_BASE": PREFECT_UI_BASE,
        "PREFECT_UI_API_URL": ui_api_url or api_url,
        # Prefect writes its UI, rewritten for the serve base, into this directory; by default one inside the
        # installed package, shared by every server of the virtualenv — one with another base would clobber ours.
        "PREFECT_UI_STATIC_DIRECTORY": str(home / "ui"),
        # Live logs in the UI (its `/api/logs/out` websocket): off in Prefect by default.
        "PREFECT_SERVER_LOGS_STREAM_OUT_ENABLED": "true",
        "PREFECT_SERVER_LOGS_STREAM_PUBLISHING_ENABLED": "true",
    }
    if auth_string:
        env["PREFECT_SERVER_API_AUTH_STRING"] = auth_string
        env["PREFECT_API_AUTH_STRING"] = auth_string
    return env


def prefect_server_command(host: str, port: int) -> list[str]:
    prefect = Path(sys.executable).with_name("prefect")
    return [str(prefect), "server", "start", "--host", host, "--port", str(port)]


def wait_for_prefect(api_url: str, timeout: float, is_alive: Callable[[], bool] = lambda: True) -> None:
    """Block until `GET {api_url}/health` answers, the process dies, or `timeout` seconds pass."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not is_alive():
            raise StackError(f"the Prefect server exited before its API at {api_url} came up")
        try:
            if httpx.get(f"{api_url}/health", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise StackError(f"the Prefect API at {api_url} did not come up within {timeout:.0f}s")


GUARD = Path(__file__).with_name("guard.py")


class ManagedProcess:
    """A child process in its own session (so a terminal Ctrl-C reaches only the supervisor), whose output is
    prefixed with its name and copied to a log file. It runs under `guard.py`, so it and everything it starts die
    with the supervisor, however the supervisor ends (even SIGKILL)."""

    def __init__(
        self,
        name: str,
        command: list[str],
        env: dict[str, str] | None = None,
        log_file: Path | None = None,
        echo: IO[str] | None = None,
        cwd: Path | None = None,
    ) -> None:
        self.name = name
        self.command = command
        self.env = {**os.environ, **(env or {})}
        self.log_file = log_file
        self.echo = echo
        self.cwd = cwd
        self.process: subprocess.Popen[str] | None = None
        self._pump: threading.Thread | None = None

    def start(self) -> ManagedProcess:
        self.process = subprocess.Popen(
            [sys.executable, str(GUARD), str(os.getpid()), "--", *self.command],
            env=self.env,
            cwd=self.cwd,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            bufsize=1,
            start_new_session=True,
        )
        self._pump = threading.Thread(target=self._copy_output, name=f"{self.name}-output", daemon=True)
        self._pump.start()
        return self

    def _copy_output(self) -> None:
        assert self.process and self.process.stdout
        log = self.log_file.open("a", encoding="utf-8") if self.log_file else None
        try:
            for line in self.process.stdout:
                if log:
                    log.write(line)
                    log.flush()
                if self.echo:
                    self.echo.write(f"{self.name:>14} | {line}")
                    self.echo.flush()
        finally:
            if log:
                log.close()

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None

    def is_alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self, timeout: float = 15.0) -> int | None:
        """SIGTERM the child (it shuts its own workers down), then SIGKILL whatever is left of its process group."""
        self.request_stop()
        return self.wait_stopped(timeout)

    def request_stop(self) -> None:
        if self.process and self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self.process.terminate()

    def wait_stopped(self, timeout: float) -> int | None:
        if not self.process:
            return None
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=max(timeout, 0.1))
        self._signal_group(signal.SIGKILL)  # stragglers the child left behind, or the child itself after the timeout
        self.process.wait(timeout=5)
        if self._pump:
            self._pump.join(timeout=2)
        return self.process.returncode

    def _signal_group(self, sig: signal.Signals) -> None:
        assert self.process
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, sig)  # the group we created with start_new_session


def stop_all(children: list[ManagedProcess], timeout: float = 12.0) -> None:
    """Stop every child at once (each shuts down in parallel), SIGKILLing what is still there after `timeout`."""
    for child in children:
        child.request_stop()
    deadline = time.monotonic() + timeout
    for child in children:
        child.wait_stopped(deadline - time.monotonic())


class PidFiles:
    """`var/run/<name>.pid` for run_stack and each child's guard: what the next start checks before anything else.
    A pid counts as alive only if that process still runs this checkout's guard or run_stack (pids are reused)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)

    def write(self, name: str, pid: int | None) -> None:
        if pid is not None:
            (self.directory / f"{name}.pid").write_text(f"{pid}\n")

    def clear(self) -> None:
        for pid_file in self.directory.glob("*.pid"):
            pid_file.unlink(missing_ok=True)

    def alive(self) -> list[tuple[str, int]]:
        found = []
        for pid_file in sorted(self.directory.glob("*.pid")):
            with contextlib.suppress(ValueError, OSError):
                pid = int(pid_file.read_text().strip())
                if pid != os.getpid() and _runs_this_checkout(pid):
                    found.append((pid_file.stem, pid))
        return found


def _runs_this_checkout(pid: int) -> bool:
    import psutil

    try:
        command_line = psutil.Process(pid).cmdline()
    except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
        return False
    return str(GUARD) in command_line or "run_stack" in command_line
