"""What the gateway adds to the reads Prefect's UI makes most: the same requests straight to Prefect (with the auth
string) and through the gateway (uvicorn, permission check, streamed relay) — its fast path with a Bearer token and
with a session cookie, and Django's path (`GATEWAY_FAST_PATH=false`, a second uvicorn) with the token —
interleaved, on loopback.

    .venv/bin/python -m bench.gateway --runs 1000 --iterations 200

Starts a locked Prefect server on its own SQLite file, creates `--runs` flow runs (with a few log lines each)
through its API, starts the control plane under uvicorn on its own SQLite database with a viewer and a token, then
alternates one request to each side per round after a warm-up, for each of the UI's heaviest reads: the runs list
page (`POST /flow_runs/filter`, 100 runs), the runs chart (`POST /ui/flow_runs/history`), the count, a run's logs
page (`POST /logs/filter`, 200 lines). Reports p50/p95 per side and the p50 overhead.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

REPO_ROOT = Path(__file__).resolve().parents[1]
SEED_VIEWER = """
from django.contrib.auth.models import Group, User
from controlplane.access.services import create_api_token
from controlplane.audit.actor import Actor
user = User.objects.create_user("bench-viewer", password="bench-Password-123", is_staff=True)
user.groups.add(Group.objects.get(name="viewer"))
print(create_api_token(Actor.system(), user, "bench")[1])
"""


def main() -> None:
    args = _arguments()
    sys.path.insert(0, str(REPO_ROOT))
    from bench.graphql import _wait_for
    from controlplane.devstack.processes import (
        ManagedProcess,
        free_port,
        prefect_server_command,
        prefect_server_env,
        wait_for_prefect,
    )

    home = Path(tempfile.mkdtemp(prefix="cp-bench-gateway-"))
    auth = ("bench", "bench-auth-string")
    prefect_port = free_port()
    api_url = f"http://127.0.0.1:{prefect_port}/api"
    prefect = ManagedProcess(
        "prefect-bench",
        prefect_server_command("127.0.0.1", prefect_port),
        prefect_server_env(home / "prefect", prefect_port, auth_string=":".join(auth)),
        log_file=home / "prefect.log",
    ).start()
    webs: list[Any] = []
    try:
        wait_for_prefect(api_url, 300, prefect.is_alive)
        run_id = _seed(api_url, auth, args.runs)
        env = {
            "PREFECT_API_URL": api_url,
            "PREFECT_API_AUTH_STRING": ":".join(auth),
            "DATABASE_URL": f"sqlite:///{home / 'controlplane.sqlite3'}",
            "VAR_DIR": str(home),
            "ALLOWED_HOSTS": "127.0.0.1",
            "DEBUG": "false",
        }
        full_env = {**os.environ, **env}
        subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=REPO_ROOT, env=full_env, check=True)
        token = subprocess.run(
            [sys.executable, "manage.py", "shell", "-c", SEED_VIEWER],
            cwd=REPO_ROOT, env=full_env, check=True, capture_output=True, text=True,
        ).stdout.strip().splitlines()[-1]  # fmt: skip
        urls = {}
        for fast_path in ("true", "false"):
            port = free_port()
            command = [sys.executable, "-m", "uvicorn", "controlplane.asgi:application", "--host", "127.0.0.1"]
            command += ["--port", str(port), "--workers", str(args.workers), "--no-access-log"]
            name = f"uvicorn-bench-fast-{fast_path}"
            web_env = {**env, "GATEWAY_FAST_PATH": fast_path}
            webs.append(ManagedProcess(name, command, web_env, log_file=home / f"{name}.log", cwd=REPO_ROOT).start())
            _wait_for(f"http://127.0.0.1:{port}/admin/login/", webs[-1].is_alive)
            urls[fast_path] = f"http://127.0.0.1:{port}"
        bearer = {"Authorization": f"Bearer {token}"}
        sides = {
            "direct": httpx.Client(base_url=api_url, auth=auth, timeout=60),
            "fast path, token": httpx.Client(base_url=f"{urls['true']}/prefect/api", headers=bearer, timeout=60),
            "fast path, session": _session_client(urls["true"]),
            "Django path, token": httpx.Client(base_url=f"{urls['false']}/prefect/api", headers=bearer, timeout=60),
        }
        print(_measure(sides, _requests(run_id), args))
    finally:
        for web in webs:
            web.stop()
        prefect.stop()


def _session_client(url: str) -> httpx.Client:
    """A browser's side: logged in through the admin login form, the session cookie on each request."""
    client = httpx.Client(base_url=url, timeout=60, headers={"Origin": url})
    client.get("/admin/login/")
    form = {
        "username": "bench-viewer",
        "password": "bench-Password-123",
        "csrfmiddlewaretoken": client.cookies["csrftoken"],
    }
    assert client.post("/admin/login/", data=form).status_code == 302
    client.base_url = httpx.URL(f"{url}/prefect/api")
    return client


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1000, help="flow runs created in Prefect")
    parser.add_argument("--iterations", type=int, default=200, help="measured requests per side and read")
    parser.add_argument("--warmup", type=int, default=20, help="unmeasured requests per side first")
    parser.add_argument("--workers", type=int, default=1, help="uvicorn workers")
    return parser.parse_args()


def _seed(api_url: str, auth: tuple[str, str], runs: int) -> str:
    with httpx.Client(base_url=api_url, auth=auth, timeout=60) as client:
        flow_id = client.post("/flows/", json={"name": "bench-gateway"}).json()["id"]
        now = datetime.now(UTC)

        def create(index: int) -> str:
            start = (now - timedelta(minutes=10 * index)).isoformat()
            state = {"type": "COMPLETED", "name": "Completed"}
            body = {"flow_id": flow_id, "name": f"bench-{index}", "state": state}
            run = _post(client, "/flow_runs/", body)
            logs = [{"name": "bench", "level": 20, "message": f"line {n} of run {index}", "flow_run_id": run["id"],
                     "timestamp": start} for n in range(5)]  # fmt: skip
            _post(client, "/logs/", logs)
            return run["id"]

        with ThreadPoolExecutor(2) as pool:
            ids = list(pool.map(create, range(runs)))
    return ids[0]


def _post(client: httpx.Client, path: str, body: Any) -> Any:
    """Prefect on SQLite answers 503 ("database is locked") under parallel writes: try again."""
    for attempt in range(20):
        answer = client.post(path, json=body)
        if answer.status_code != 503:
            break
        time.sleep(0.1 * (attempt + 1))
    answer.raise_for_status()
    return answer.json() if answer.content else None


def _requests(run_id: str) -> dict[str, tuple[str, dict[str, Any]]]:
    now = datetime.now(UTC)
    history = {"history_start": (now - timedelta(days=7)).isoformat(), "history_end": now.isoformat(),
               "history_interval_seconds": 3600 * 3}  # fmt: skip
    return {
        "runs list (POST /flow_runs/filter, 100)": (
            "/flow_runs/filter",
            {"sort": "EXPECTED_START_TIME_DESC", "limit": 100, "offset": 0},
        ),
        "runs chart (POST /ui/flow_runs/history)": ("/ui/flow_runs/history", {**history, "limit": 1000}),
        "run count (POST /flow_runs/count)": ("/flow_runs/count", {}),
        "logs page (POST /logs/filter, 200)": ("/logs/filter", {"limit": 200, "sort": "TIMESTAMP_ASC"}),
    }


def _measure(sides: dict[str, httpx.Client], requests: dict, args: argparse.Namespace) -> str:
    """p50 / p95 per side, and each gateway side's p50 overhead over Prefect direct (the first side)."""
    lines = ["| read | " + " | ".join(f"{side} p50 / p95 (overhead)" for side in sides) + " |"]
    lines.append("|---" * (len(sides) + 1) + "|")
    for label, (path, body) in requests.items():
        timings: dict[str, list[float]] = {side: [] for side in sides}
        expected = sides["direct"].post(path, json=body).json()
        assert all(client.post(path, json=body).json() == expected for client in sides.values()), label
        for round_ in range(args.warmup + args.iterations):
            for side, client in sides.items():
                started = time.perf_counter()
                answer = client.post(path, json=body)
                elapsed = (time.perf_counter() - started) * 1000
                answer.raise_for_status()
                if round_ >= args.warmup:
                    timings[side].append(elapsed)
        direct50 = statistics.median(timings["direct"])
        cells = []
        for side, values in timings.items():
            p50, p95 = statistics.median(values), statistics.quantiles(values, n=20)[18]
            overhead = f" (+{p50 - direct50:.1f})" if side != "direct" else ""
            cells.append(f"{p50:.1f} / {p95:.1f} ms{overhead}")
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n" + json.dumps({"iterations": args.iterations, "warmup": args.warmup})


if __name__ == "__main__":
    main()
