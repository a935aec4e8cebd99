"""Monitoring costs: threshold crossing → webhook received, the sampler's CPU, `/metrics` and `runHealth` timings.

    .venv/bin/python -m bench.monitoring [--runs 20000] [--rounds 50]
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/cp_bench_monitoring .venv/bin/python -m bench.monitoring \
        --runs 1000000

Uses a temporary SQLite database (migrated; `--runs` mirrored runs over 20 deployments in mixed states, bulk
inserted) or, with `DATABASE_URL` on PostgreSQL, that database (created if missing, runs already there reused; seeded
as bench/dashboard.py seeds it: 1 run in 10 scheduled, most of them late), and a real HTTP server on 127.0.0.1 in a
thread as the webhook. The crossing is timed from the evaluation call to the moment the server has read the POST:
evaluation, the alert row and its audit event, the delivery row and the signed POST — with Celery eager, so the
broker hop of production (a task queued, then picked up by a worker) is not in it. Prints a Markdown table (not a
timed test).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
RUN_HEALTH_QUERY = "{ runHealth(window: 86400) { overall { runs failureRate } deployments { deployment runs slow } } }"


def _on_postgres() -> bool:
    return os.environ.get("DATABASE_URL", "").startswith(("postgres://", "postgresql://"))


def _setup(home: Path) -> None:
    if _on_postgres():
        from bench.graphql import _ensure_postgres_database

        _ensure_postgres_database(os.environ["DATABASE_URL"])
    else:
        os.environ["DATABASE_URL"] = f"sqlite:///{home / 'bench.sqlite3'}"
    os.environ["VAR_DIR"] = str(home)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "controlplane.settings")
    sys.path.insert(0, str(REPO))
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0, interactive=False)


def _seed(runs: int) -> Any:
    if _on_postgres():  # millions of rows: one INSERT … SELECT per 100k (bench/dashboard.py), then fresh statistics
        from django.db import connection

        from bench.dashboard import _seed_runs
        from tests.factories import UserFactory

        _seed_runs(runs)
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE workflows_flowrun")
        viewer = UserFactory(role="viewer")
        viewer.get_all_permissions()
        return viewer
    return _seed_on_sqlite(runs)


def _seed_on_sqlite(runs: int) -> Any:
    import uuid
    from datetime import timedelta

    from django.utils import timezone

    from tests.factories import DeploymentFactory, UserFactory
    from workflows.models import FlowRun

    deployments = DeploymentFactory.create_batch(20)
    states = ["COMPLETED"] * 7 + ["FAILED", "CRASHED", "SCHEDULED", "RUNNING"]
    now = timezone.now()
    rows = []
    for index in range(runs):
        deployment = deployments[index % len(deployments)]
        expected = now - timedelta(seconds=index * 5)
        state = states[index % len(states)]
        rows.append(
            FlowRun(
                prefect_id=uuid.uuid4(),
                name=f"run-{index}",
                flow_id=deployment.flow_id,
                deployment=deployment,
                state_type=state,
                expected_start_time=expected,
                end_time=expected + timedelta(seconds=30) if state not in ("SCHEDULED", "RUNNING") else None,
                total_run_time=30.0 + (index % 7) * (20 if index % 50 == 0 else 1),
                run_count=2 if index % 13 == 0 else 1,
            )
        )
    FlowRun.objects.bulk_create(rows, batch_size=2000)
    viewer = UserFactory(role="viewer")
    viewer.get_all_permissions()
    return viewer


class _Webhook:
    def __init__(self) -> None:
        self.received = threading.Event()
        self.received_at = 0.0
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length", 0)))
                owner.received_at = time.perf_counter()
                owner.received.set()
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"


def _crossing_latencies(rounds: int) -> list[float]:
    from controlplane.celery import app as celery_app
    from monitoring.evaluation import evaluate_samples
    from monitoring.models import NotificationChannel, SystemSample, Threshold

    celery_app.conf.task_always_eager = True
    webhook = _Webhook()
    NotificationChannel.objects.create(name="bench", kind="webhook", target=webhook.url, secret="bench")  # noqa: S106
    Threshold.objects.exclude(name="CPU").update(enabled=False)
    Threshold.objects.filter(name="CPU").update(warning_level=50, critical_level=90)
    from django.utils import timezone

    latencies = []
    for index in range(rounds):
        sample = SystemSample.objects.create(
            host=f"bench-{index}", taken_at=timezone.now(), cpu_percent=75.0, memory_percent=10.0
        )
        webhook.received.clear()
        started = time.perf_counter()
        evaluate_samples([sample])
        if not webhook.received.wait(timeout=30):
            raise RuntimeError("the webhook received nothing within 30 s")
        latencies.append(webhook.received_at - started)
    webhook.server.shutdown()
    return latencies


def _sampler_cost(rounds: int) -> tuple[float, float]:
    from monitoring.sampling import take_sample

    take_sample()
    cpu, wall = [], []
    for _ in range(rounds):
        cpu_start, wall_start = time.process_time(), time.perf_counter()
        take_sample()
        cpu.append(time.process_time() - cpu_start)
        wall.append(time.perf_counter() - wall_start)
    return statistics.median(cpu), statistics.median(wall)


def _timed(call: Any, rounds: int) -> list[float]:
    call()
    timings = []
    for _ in range(rounds):
        started = time.perf_counter()
        call()
        timings.append(time.perf_counter() - started)
    return timings


def _metrics_request() -> None:
    from django.test import Client

    response = Client().get("/metrics", HTTP_HOST="127.0.0.1")
    assert response.status_code == 200, response.content


def _run_health_request(viewer: Any) -> Any:
    from django.test import RequestFactory
    from strawberry.django.context import StrawberryDjangoContext

    from controlplane.api.schema import schema

    def call() -> None:
        request = RequestFactory().post("/graphql/")
        request.user = viewer
        result = schema.execute_sync(RUN_HEALTH_QUERY, context_value=StrawberryDjangoContext(request, None))
        assert result.errors is None, result.errors

    return call


def _p(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20000, help="mirrored flow runs")
    parser.add_argument("--rounds", type=int, default=50, help="measured repetitions of each")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as home:
        _setup(Path(home))
        viewer = _seed(args.runs)
        from monitoring.components import check_components

        check_components(["database", "broker", "beat", "listener", "sync"])
        crossing = _crossing_latencies(args.rounds)
        sampler_cpu, sampler_wall = _sampler_cost(min(args.rounds, 20))
        metrics = _timed(_metrics_request, args.rounds)
        run_health = _timed(_run_health_request(viewer), args.rounds)
    rows = [
        ("threshold crossing → webhook received (eager)", *_ms(crossing)),
        ("sampler CPU time per sample (median)", f"{sampler_cpu * 1000:.1f} ms", "—"),
        (
            "sampler wall time per sample (median; 250 ms: psutil's CPU interval)",
            f"{sampler_wall * 1000:.0f} ms",
            "—",
        ),
        ("GET /metrics", *_ms(metrics)),
        ("runHealth (24 h window, 20 deployments), in process", *_ms(run_health)),
    ]
    print(f"N = {args.runs} mirrored runs, {args.rounds} rounds each\n")
    print("| measure | p50 | p95 |\n|---|---:|---:|")
    for name, p50, p95 in rows:
        print(f"| {name} | {p50} | {p95} |")


def _ms(values: list[float]) -> tuple[str, str]:
    return f"{_p(values, 0.5) * 1000:.1f} ms", f"{_p(values, 0.95) * 1000:.1f} ms"


if __name__ == "__main__":
    main()
