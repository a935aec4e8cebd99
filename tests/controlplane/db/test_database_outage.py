"""PostgreSQL restarted under a running web server: during the outage requests fail fast and cleanly (503 with
Retry-After, a GraphQL-shaped error), and once it is back the same server process answers again — no stuck
connection. Runs against a private PostgreSQL cluster this test starts (never the machine's own service)."""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import psycopg
import pytest
from django.conf import settings

from controlplane.devstack.processes import ManagedProcess, free_port
from tests.processes import manage, poll, start_celery

POSTGRES_BIN = sorted(glob.glob("/usr/lib/postgresql/*/bin"))
QUERY = {"query": "{ me { username } }"}

pytestmark = pytest.mark.skipif(
    not POSTGRES_BIN or os.geteuid() != 0 or shutil.which("runuser") is None,
    reason="needs PostgreSQL's server binaries and root (to run them as the postgres user)",
)


class PrivateCluster:
    def __init__(self, directory: Path) -> None:
        self.bin = Path(POSTGRES_BIN[-1])
        self.data = directory / "data"
        self.port = free_port()
        self.url = f"postgres://postgres@127.0.0.1:{self.port}/postgres"
        shutil.chown(directory, "postgres", "postgres")
        self._as_postgres(self.bin / "initdb", "-A", "trust", "-U", "postgres", "-D", str(self.data))

    def _as_postgres(self, *command: str | Path) -> None:
        # Output to a file, never a pipe: the server pg_ctl leaves running would hold a pipe open forever.
        with (self.data.parent / "commands.log").open("a") as log:
            subprocess.run(["runuser", "-u", "postgres", "--", *map(str, command)], check=True, stdout=log,
                           stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, timeout=180)  # fmt: skip

    def start(self) -> None:
        options = f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.data}"
        server_log = self.data.parent / "server.log"
        self._as_postgres(self.bin / "pg_ctl", "-D", self.data, "-o", options, "-l", server_log, "-w", "-t", "120",
                          "start")  # fmt: skip

    def stop(self) -> None:
        self._as_postgres(self.bin / "pg_ctl", "-D", self.data, "-m", "fast", "-w", "stop")


@pytest.fixture
def cluster() -> Iterator[PrivateCluster]:
    directory = Path(tempfile.mkdtemp(prefix="cp-pg-"))  # under /tmp: pytest's own tmp dirs are root-only
    cluster = PrivateCluster(directory)
    cluster.start()
    try:
        yield cluster
    finally:
        subprocess.run(
            ["runuser", "-u", "postgres", "--", str(cluster.bin / "pg_ctl"), "-D", str(cluster.data), "-m",
             "immediate", "stop"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=120,
        )  # fmt: skip
        shutil.rmtree(directory, ignore_errors=True)


def _env(cluster: PrivateCluster, var_dir: Path) -> dict[str, str]:
    return {"DATABASE_URL": cluster.url, "VAR_DIR": str(var_dir), "CELERY_BROKER_URL": "memory://"}


def _ask(base: str, token: str) -> httpx.Response:
    return httpx.post(f"{base}/graphql/", json=QUERY, headers={"Authorization": f"Bearer {token}"}, timeout=30)


def test_requests_fail_cleanly_while_postgres_is_down_and_succeed_after_it_returns(cluster, tmp_path):
    env = _env(cluster, tmp_path / "var")
    manage(env, "migrate", "--verbosity", "0")
    token = manage(env, "shell", "-c", CREATE_TOKEN).strip().splitlines()[-1]
    port = free_port()
    web = ManagedProcess(
        "web",
        [str(Path(sys.executable).with_name("gunicorn")), "controlplane.wsgi:application", "-b", f"127.0.0.1:{port}",
         "-w", "1", "--timeout", "60"],
        env=env,
        cwd=Path(settings.BASE_DIR),
        log_file=tmp_path / "web.log",
    ).start()  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        first = poll(lambda: _safe_ask(base, token))
        assert first.status_code == 200 and first.json()["data"]["me"]["username"] == "outage"

        cluster.stop()
        during = _ask(base, token)
        assert during.status_code == 503
        assert during.headers["Retry-After"] == "5"
        assert during.json()["errors"][0]["extensions"]["code"] == "DATABASE_UNAVAILABLE"
        assert web.is_alive()

        cluster.start()
        after = poll(lambda: (answer := _safe_ask(base, token)) is not None and answer.status_code == 200 and answer)
        assert after.json()["data"]["me"]["username"] == "outage"
        log = (tmp_path / "web.log").read_text()
        assert "database unavailable while serving /graphql/" in log
        assert "Traceback" not in log
    finally:
        web.stop()


def _safe_ask(base: str, token: str) -> httpx.Response | None:
    try:
        return _ask(base, token)
    except httpx.HTTPError:
        return None


CREATE_TOKEN = """
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from controlplane.access.services import create_api_token
from controlplane.audit.actor import Actor
user = get_user_model().objects.create_user("outage", password="x-long-password-1")
user.groups.add(Group.objects.get(name="viewer"))
print(create_api_token(Actor.for_user(user), user, "outage")[1])
"""


def _samples(cluster: PrivateCluster) -> int:
    with psycopg.connect(cluster.url, connect_timeout=5) as connection:
        return connection.execute("SELECT count(*) FROM monitoring_systemsample").fetchone()[0]


def test_the_worker_and_beat_outlive_a_postgres_restart_and_carry_on(cluster, tmp_path):
    """Beat (its schedule in the database) and a worker under a PostgreSQL restart: both stay up, and beat's
    tasks run again once the database is back — the worker's connections are not stuck on the dead server."""
    env = {**_env(cluster, tmp_path / "var"), "CELERY_BROKER_URL": "filesystem://", "MONITORING_SAMPLE_SECONDS": "2"}
    manage(env, "migrate", "--verbosity", "0")  # the sampling schedule: every 2 s
    worker = start_celery("worker", env, tmp_path, "worker", "-P", "solo", "-l", "INFO")
    beat = start_celery("beat", env, tmp_path, "beat", "-l", "INFO")
    try:
        poll(lambda: _samples(cluster) >= 2, timeout=120, wanted="samples before the outage")

        cluster.stop()
        beat_log = tmp_path / "beat.log"
        poll(lambda: "Database gave error" in beat_log.read_text(), timeout=60, wanted="beat meeting the outage")
        assert worker.is_alive() and beat.is_alive()
        cluster.start()

        after_restart = _samples(cluster)
        poll(lambda: _samples(cluster) >= after_restart + 2, timeout=120, wanted="samples after the restart")
        assert worker.is_alive() and beat.is_alive()
    finally:
        beat.stop()
        worker.stop()
