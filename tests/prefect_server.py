"""A real Prefect server for the tests: its own process, SQLite file and port, which a test can stop and restart
(e.g. to kill Prefect in the middle of a sync). Locked like every server the control plane runs: its API answers
only to `auth_string`, which the suite's processes send."""

from __future__ import annotations

import secrets
import tempfile
from pathlib import Path

from controlplane.devstack.processes import (
    ManagedProcess,
    free_port,
    prefect_server_command,
    prefect_server_env,
    wait_for_prefect,
)

STARTUP_TIMEOUT_SECONDS = 90


class PrefectTestServer:
    def __init__(self) -> None:
        self.home = Path(tempfile.mkdtemp(prefix="cp-prefect-"))
        self.port = free_port()
        self.api_url = f"http://127.0.0.1:{self.port}/api"
        self.auth_string = f"tests:{secrets.token_urlsafe(16)}"
        self.env = prefect_server_env(self.home, self.port, auth_string=self.auth_string)
        self.process: ManagedProcess | None = None
        self.starts = 0

    def start(self) -> None:
        self.starts += 1  # a restart (a fault test) is noticed by the served-flows fixture
        self.process = ManagedProcess(
            "prefect-test", prefect_server_command("127.0.0.1", self.port), self.env, log_file=self.home / "server.log"
        ).start()
        wait_for_prefect(self.api_url, STARTUP_TIMEOUT_SECONDS, self.process.is_alive)

    def stop(self) -> None:
        if self.process:
            self.process.stop()
            self.process = None

    def client_env(self) -> dict[str, str]:
        """Environment for a process (flow server, worker) that talks to this server."""
        return {
            "PREFECT_API_URL": self.api_url,
            "PREFECT_HOME": str(self.home / "client"),
            "PREFECT_API_AUTH_STRING": self.auth_string,
        }

    @property
    def basic_auth(self) -> tuple[str, str]:
        """The credential as httpx's `auth=` takes it (Prefect compares the decoded `user:password`)."""
        user, password = self.auth_string.split(":", 1)
        return user, password
