"""A run that fails in Prefect → the alert naming it: how long, through the real events listener.

    .venv/bin/python -m bench.failed_run_alert [--rounds 20]

Starts a Prefect server (its own temporary SQLite, locked) and a temporary SQLite control plane, a deployment in a
pool without workers with "alert on failure" on, and the events listener in a thread, as `manage.py
listen_prefect_events` runs it. Each round creates a run, moves it to RUNNING and then FAILED through Prefect's API
(what a worker reports when a flow fails) and waits for the alert. The latency is the alert's `first_seen` minus the
FAILED state's timestamp in Prefect. Target (monitoring issue): within 10 s. Prints a Markdown table; not a test.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import threading
import time
import uuid
from datetime import datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TARGET_SECONDS = 10.0


def _setup(home: Path) -> None:
    os.environ["DATABASE_URL"] = f"sqlite:///{home / 'bench.sqlite3'}"
    os.environ["VAR_DIR"] = str(home)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "controlplane.settings")
    sys.path.insert(0, str(REPO))
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0, interactive=False)


def _watched_deployment() -> dict:
    from monitoring.models import DeploymentAlertRule
    from tests.prefect_helpers import create_deployment_in_prefect
    from workflows.models import Deployment
    from workflows.references import sync_reference_data

    payload = create_deployment_in_prefect(f"bench-alert-{uuid.uuid4().hex[:6]}", work_pool="bench-idle-pool")
    sync_reference_data()
    DeploymentAlertRule.objects.create(deployment=Deployment.objects.get(prefect_id=payload["id"]))
    return payload


def _one_failure(deployment: dict, timeout: float = 60) -> float:
    from monitoring.models import Alert
    from tests.prefect_helpers import create_flow_run_in_prefect, set_state_in_prefect

    run_id = create_flow_run_in_prefect(deployment, f"bench-{uuid.uuid4().hex[:6]}")["id"]
    set_state_in_prefect(run_id, "RUNNING", "Running", force=True)
    failed = set_state_in_prefect(run_id, "FAILED", "Failed", force=True)["state"]
    failed_at = datetime.fromisoformat(failed["timestamp"])
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        alert = Alert.objects.filter(subject=f"run:{run_id}").first()
        if alert is not None:
            return (alert.first_seen - failed_at).total_seconds()
        time.sleep(0.05)
    raise SystemExit(f"no alert for run {run_id} within {timeout}s")


def _start_listener() -> tuple[threading.Thread, threading.Event]:
    from django.db import connection

    from workflows import listener

    stop, connected = threading.Event(), threading.Event()

    def run() -> None:
        try:
            listener.listen(should_stop=stop.is_set, on_connected=connected.set, idle_timeout=0.2)
        finally:
            connection.close()

    thread = threading.Thread(target=run, name="listener", daemon=True)
    thread.start()
    if not connected.wait(60):
        raise SystemExit("the listener did not connect")
    return thread, stop


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as home:
        _setup(Path(home))
        from django.conf import settings

        from tests.prefect_server import PrefectTestServer

        server = PrefectTestServer()
        server.start()
        settings.PREFECT_API_URL, settings.PREFECT_API_AUTH_STRING = server.api_url, server.auth_string
        try:
            deployment = _watched_deployment()
            thread, stop = _start_listener()
            latencies = sorted(_one_failure(deployment) for _ in range(args.rounds))
            stop.set()
            thread.join(30)
        finally:
            server.stop()
    p50, p95 = latencies[len(latencies) // 2], latencies[min(len(latencies) - 1, int(0.95 * len(latencies)))]
    print(f"{args.rounds} failed runs, alert latency from Prefect's FAILED state to the alert row\n")
    print("| measure | p50 | p95 | max | target |\n|---|---:|---:|---:|---:|")
    print(f"| failed run → alert | {p50:.2f} s | {p95:.2f} s | {latencies[-1]:.2f} s | < {TARGET_SECONDS:.0f} s |")


if __name__ == "__main__":
    main()
