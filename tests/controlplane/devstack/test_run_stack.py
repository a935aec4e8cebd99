"""`manage.py run_stack` (what `make run` calls), run for real as a user would: every child comes up, the admin
accepts the first admin's login, Prefect lists the served deployments, Ctrl-C stops every child, and restarts leave
no ghost runs in the mirror."""

from __future__ import annotations

import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx
import psutil
import pytest
from django.conf import settings
from django.contrib.auth import get_user_model

from controlplane.devstack.processes import free_port, port_is_free
from flows.serve import build_deployments

REPO_ROOT = Path(settings.BASE_DIR)
ADMIN_PASSWORD = "a-long-test-password-123"


def _stack_env(tmp_path: Path, prefect_port: int, admin_password: str = ADMIN_PASSWORD) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "DJANGO_"))}
    env.update(
        VAR_DIR=str(tmp_path / "var"),
        DATABASE_URL=f"sqlite:///{tmp_path / 'stack.sqlite3'}",
        CELERY_BROKER_URL="filesystem://",
        PREFECT_API_URL=f"http://127.0.0.1:{prefect_port}/api",
        PREFECT_START_LOCAL_SERVER="true",
        ADMIN_PASSWORD=admin_password,
    )
    return env


def _run_stack(
    tmp_path: Path, web_port: int, prefect_port: int, admin_password: str = ADMIN_PASSWORD
) -> subprocess.Popen[str]:
    """`make run` as a terminal starts it: its own session and process group, which a closed terminal SIGHUPs."""
    return subprocess.Popen(
        [sys.executable, "manage.py", "run_stack", "--port", str(web_port), "--web-workers", "1"],
        cwd=REPO_ROOT,
        env=_stack_env(tmp_path, prefect_port, admin_password),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )


def _ports_free(*ports: int, timeout: float = 60) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if all(port_is_free("127.0.0.1", port) for port in ports):
            return True
        time.sleep(0.5)
    return False


def _read_until(process: subprocess.Popen[str], marker: str, timeout: float) -> str:
    seen: list[str] = []
    deadline = time.monotonic() + timeout
    assert process.stdout
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line and process.poll() is not None:
            break
        seen.append(line)
        if marker in line:
            return "".join(seen)
    raise AssertionError(f"{marker!r} not printed within {timeout}s; output:\n{''.join(seen)[-4000:]}")


def _admin_login(base_url: str, password: str) -> httpx.Response:
    with httpx.Client(base_url=base_url) as client:
        client.get("/admin/login/")
        return client.post(
            "/admin/login/",
            data={
                "username": "admin",
                "password": password,
                "csrfmiddlewaretoken": client.cookies["csrftoken"],
                "next": "/admin/",
            },
            follow_redirects=True,
        )


@pytest.mark.skipif(
    bool(os.environ.get("DATABASE_URL")),
    reason="the stack runs on its own SQLite whatever the suite's database; CI's embedded run covers it",
)
@pytest.mark.django_db  # the catalogue reads the configuration (the health-check interval)
def test_run_stack_brings_everything_up_a_hangup_stops_every_child_and_three_restarts_leave_no_ghost(tmp_path):
    web_port, prefect_port = free_port(), free_port()
    stack = _run_stack(tmp_path, web_port, prefect_port)
    try:
        _read_until(stack, "Press Ctrl-C to stop everything.", timeout=180)
        children = psutil.Process(stack.pid).children(recursive=True)
        command_lines = [" ".join(child.cmdline()) for child in children]
        for part in ("server start", "flows.serve", "worker", "beat", "listen_prefect_events", "uvicorn"):
            assert any(part in line for line in command_lines), f"no child runs {part!r}: {command_lines}"

        page = _admin_login(f"http://127.0.0.1:{web_port}", ADMIN_PASSWORD)
        assert page.url.path == "/admin/" and "Log out" in page.text

        # Prefect's API is locked: the string generated into var/ (0600) opens it, nothing else does.
        prefect = f"http://127.0.0.1:{prefect_port}/api"
        assert httpx.post(f"{prefect}/deployments/filter", json={}).status_code == 401
        auth_file = tmp_path / "var" / "prefect_auth_string"
        assert auth_file.stat().st_mode & 0o777 == 0o600
        auth = tuple(auth_file.read_text().strip().split(":", 1))
        # Every deployment of the flow catalogue is served, each with its schedule.
        catalogue = {deployment.name for deployment in build_deployments()}
        deadline = time.monotonic() + 120
        scheduled: set[str] = set()
        while time.monotonic() < deadline and not catalogue <= scheduled:
            deployments = httpx.post(f"{prefect}/deployments/filter", json={}, auth=auth).json()
            scheduled = {d["name"] for d in deployments if d.get("schedules")}
            time.sleep(1)
        assert catalogue <= scheduled, sorted(catalogue - scheduled)

        os.killpg(stack.pid, signal.SIGHUP)  # the terminal closed: make and run_stack get SIGHUP
        hung_up_at = time.monotonic()
        stack.wait(timeout=60)
        _, alive = psutil.wait_procs(children, timeout=60)
        assert not [child.pid for child in alive if child.status() != psutil.STATUS_ZOMBIE]
        assert _ports_free(web_port, prefect_port)
        print(f"every process gone and both ports free {time.monotonic() - hung_up_at:.1f}s after the hangup")

        # Three restarts: each time serve() makes Prefect regenerate its auto-scheduled runs; none stays behind in
        # the mirror as a ghost or as a stale "Scheduled" run.
        for _ in range(3):
            again = _run_stack(tmp_path, web_port, prefect_port)
            try:
                _read_until(again, "Press Ctrl-C to stop everything.", timeout=180)
                _wait_for_mirror_without_ghosts(tmp_path / "stack.sqlite3", prefect, auth)
                again.send_signal(signal.SIGINT)
                assert again.wait(timeout=60) == 0
                assert _ports_free(web_port, prefect_port)
            finally:
                if again.poll() is None:
                    os.killpg(again.pid, signal.SIGKILL)
    finally:
        if stack.poll() is None:
            os.killpg(stack.pid, signal.SIGKILL)


def _wait_for_mirror_without_ghosts(database: Path, prefect: str, auth: tuple[str, ...], timeout: float = 180) -> None:
    """Until every run the mirror shows exists in Prefect, with no run marked deleted in Prefect at all."""
    state: dict[str, object] = {}

    def settled() -> bool:
        with sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=30) as mirror:
            rows = mirror.execute("SELECT prefect_id, deleted_in_prefect FROM workflows_flowrun").fetchall()
        shown = {str(uuid.UUID(str(run_id))) for run_id, deleted in rows if not deleted}
        state.update(ghosts=sum(1 for _, deleted in rows if deleted), stale=shown - _prefect_run_ids(prefect, auth))
        return bool(shown) and not state["ghosts"] and not state["stale"]

    deadline = time.monotonic() + timeout
    while not settled():
        assert time.monotonic() < deadline, f"the mirror did not settle within {timeout}s: {state}"
        time.sleep(2)


def _prefect_run_ids(prefect: str, auth: tuple[str, ...]) -> set[str]:
    ids: set[str] = set()
    while True:
        page = httpx.post(f"{prefect}/flow_runs/filter", json={"limit": 200, "offset": len(ids)}, auth=auth).json()
        ids.update(run["id"] for run in page)
        if len(page) < 200:
            return ids


def test_a_first_start_that_fails_on_a_taken_port_keeps_the_admins_credentials(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        stack = _run_stack(tmp_path, port, free_port(), admin_password="")
        output, _ = stack.communicate(timeout=120)
    assert stack.returncode != 0
    assert f"port {port} on 127.0.0.1 (for the web server) is already in use" in output
    assert "--port 8080" in output  # advice that works
    credentials = tmp_path / "var" / "first-admin.txt"
    assert credentials.stat().st_mode & 0o777 == 0o600
    username_line, password_line = credentials.read_text().splitlines()
    assert username_line == "username: admin"
    assert f"password {password_line.removeprefix('password: ')!r}" in output


def test_a_start_beside_a_live_earlier_run_names_its_processes(tmp_path):
    from controlplane.devstack.processes import ManagedProcess, PidFiles

    leftover = ManagedProcess("web", [sys.executable, "-c", "import time; time.sleep(600)"]).start()
    try:
        PidFiles(tmp_path / "var" / "run").write("web", leftover.pid)
        stack = _run_stack(tmp_path, free_port(), free_port())
        output, _ = stack.communicate(timeout=120)
        assert stack.returncode != 0
        assert f"still running: web (pid {leftover.pid})" in output
        assert f"kill -TERM -- -{leftover.pid}" in output
    finally:
        leftover.stop(timeout=10)


@pytest.mark.django_db
def test_the_saved_credentials_are_deleted_at_the_first_admins_first_login(settings, tmp_path, client):
    from controlplane.access.bootstrap import ensure_first_admin, save_first_admin_credentials

    settings.VAR_DIR = tmp_path
    admin = ensure_first_admin("first", "a-long-test-password-456")
    path = save_first_admin_credentials(admin)
    other = ensure_first_admin("second", "a-long-test-password-789")
    client.force_login(get_user_model().objects.get(username=other.username))
    assert path.exists()  # someone else's login leaves it
    client.logout()
    response = client.post("/admin/login/", {"username": "first", "password": "a-long-test-password-456"})
    assert response.status_code == 302
    assert not path.exists()


@pytest.mark.django_db
def test_second_run_reuses_the_first_admin_without_resetting_its_password():
    from controlplane.access.bootstrap import ensure_first_admin

    first = ensure_first_admin("root-admin")
    second = ensure_first_admin("root-admin", "another-password")
    assert first.created and first.password
    assert not second.created and second.password is None
