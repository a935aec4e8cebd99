"""`manage.py run_stack` (what `make run` calls), run for real as a user would: every child comes up, the admin
accepts the first admin's login, Prefect lists the served deployments, and Ctrl-C stops every child."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psutil
import pytest
from django.conf import settings

from controlplane.devstack.processes import free_port

REPO_ROOT = Path(settings.BASE_DIR)
ADMIN_PASSWORD = "a-long-test-password-123"


def _stack_env(tmp_path: Path, prefect_port: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "DJANGO_"))}
    env.update(
        VAR_DIR=str(tmp_path / "var"),
        DATABASE_URL=f"sqlite:///{tmp_path / 'stack.sqlite3'}",
        CELERY_BROKER_URL="filesystem://",
        PREFECT_API_URL=f"http://127.0.0.1:{prefect_port}/api",
        PREFECT_START_LOCAL_SERVER="true",
        ADMIN_PASSWORD=ADMIN_PASSWORD,
    )
    return env


def _run_stack(tmp_path: Path, web_port: int, prefect_port: int) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "manage.py", "run_stack", "--port", str(web_port), "--web-workers", "1"],
        cwd=REPO_ROOT,
        env=_stack_env(tmp_path, prefect_port),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


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
def test_run_stack_brings_everything_up_and_ctrl_c_stops_every_child(tmp_path):
    web_port, prefect_port = free_port(), free_port()
    stack = _run_stack(tmp_path, web_port, prefect_port)
    try:
        _read_until(stack, "Press Ctrl-C to stop everything.", timeout=180)
        children = psutil.Process(stack.pid).children(recursive=True)
        command_lines = [" ".join(child.cmdline()) for child in children]
        for part in ("server start", "flows.serve", "worker", "beat", "listen_prefect_events", "gunicorn"):
            assert any(part in line for line in command_lines), f"no child runs {part!r}: {command_lines}"

        page = _admin_login(f"http://127.0.0.1:{web_port}", ADMIN_PASSWORD)
        assert page.url.path == "/admin/" and "Log out" in page.text

        deadline = time.monotonic() + 60
        served: set[str] = set()
        while time.monotonic() < deadline and len(served) < 2:
            deployments = httpx.post(f"http://127.0.0.1:{prefect_port}/api/deployments/filter", json={}).json()
            served = {d["name"] for d in deployments}
            time.sleep(1)
        assert {"health-check", "etl-hourly"} <= served

        stack.send_signal(signal.SIGINT)
        assert stack.wait(timeout=60) == 0
        time.sleep(1)
        assert not [child.pid for child in children if child.is_running() and child.status() != "zombie"]
    finally:
        if stack.poll() is None:
            stack.kill()


def test_run_stack_refuses_a_taken_port_with_a_plain_message(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        stack = _run_stack(tmp_path, port, free_port())
        output, _ = stack.communicate(timeout=120)
    assert stack.returncode != 0
    assert f"port {port} on 127.0.0.1 (for the web server) is already in use" in output


@pytest.mark.django_db
def test_second_run_reuses_the_first_admin_without_resetting_its_password():
    from controlplane.access.bootstrap import ensure_first_admin

    first = ensure_first_admin("root-admin")
    second = ensure_first_admin("root-admin", "another-password")
    assert first.created and first.password
    assert not second.created and second.password is None
