"""Load: 20 readers paging runs and 2 operators triggering runs at once against gunicorn, for a fixed time.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/cp_bench_load .venv/bin/python -m bench.load --seconds 60

What it does: starts a Prefect server on its own PostgreSQL database, an idle deployment (a work pool nobody polls,
so no flow execution competes for the CPU) with `--runs` runs mirrored for the readers to page, gunicorn
(`--workers`, 60 s timeout) on the mirror, and a Celery worker. Then for `--seconds`:
- each of `--readers` threads (its own viewer token) asks `flowRuns(first: 50)` with flow, deployment and work pool,
  waiting `--think` seconds between requests (a dashboard polling; `--think 0` is a saturation test);
- each of `--operators` threads (its own operator token) triggers the deployment with a fresh idempotency key, back
  to back.
Every answer is checked (HTTP 200, no GraphQL errors, a trigger answers a FlowRun). It prints requests, errors and
p50/p95/p99 per kind, then checks the audit log: the chain verifies and holds exactly one successful
`flow_run.trigger` event per successful trigger of this run.
"""

from __future__ import annotations

import argparse
import statistics
import threading
import time
import uuid
from dataclasses import dataclass, field

import httpx

from bench.graphql import _wait_for, role_token
from bench.operations import _idle_deployment, _start_web, _start_worker, _web_env, start_bench_prefect

DEFAULT_PREFECT_DB = "postgresql+asyncpg://postgres@127.0.0.1:5432/cp_bench_load_prefect"
READ = """query R { flowRuns(first: 50) { totalCount edges { node {
  prefectId name stateType stateName expectedStartTime startTime endTime flow { name } deployment { name }
  workPool { name } } } } }"""
TRIGGER = """mutation T($id: ID!, $key: String!) { triggerDeployment(deploymentId: $id, parameters: {},
  idempotencyKey: $key) { __typename ... on FlowRun { prefectId } ... on OperationInfo { messages { message } } } }"""


@dataclass
class Tally:
    latencies: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, seconds: float, error: str | None) -> None:
        with self.lock:
            self.latencies.append(seconds)
            if error:
                self.errors.append(error)


def main() -> None:
    args = _arguments()
    home, prefect, api_url = start_bench_prefect("load", args.prefect_db)
    from controlplane.devstack.processes import ManagedProcess, free_port

    processes = [prefect]
    try:
        deployment_id = _idle_deployment(api_url)
        _seed_runs(api_url, deployment_id, args.runs)
        env = _web_env(api_url)
        web_port = free_port()
        processes.append(_start_web(ManagedProcess, env, web_port, home, workers=args.workers))
        processes.append(_start_worker(ManagedProcess, env, home))
        _wait_for(f"http://127.0.0.1:{web_port}/admin/login/", processes[1].is_alive)
        url = f"http://127.0.0.1:{web_port}/graphql/"
        started = time.time()
        reads, triggers, created = _run_load(url, deployment_id, args)
        print(_report(reads, triggers, args), flush=True)
        print(_audit_check(started, created), flush=True)
    finally:
        for process in reversed(processes):
            process.stop()


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--readers", type=int, default=20)
    parser.add_argument("--operators", type=int, default=2)
    parser.add_argument("--think", type=float, default=0.5, help="seconds a reader waits between its requests")
    parser.add_argument("--workers", type=int, default=4, help="gunicorn workers")
    parser.add_argument("--runs", type=int, default=300, help="runs mirrored before the load starts")
    parser.add_argument("--prefect-db", default=DEFAULT_PREFECT_DB, help="Prefect's own PostgreSQL database")
    return parser.parse_args()


def _seed_runs(api_url: str, deployment_id: str, count: int) -> None:
    from workflows.sync import sync_prefect

    with httpx.Client(base_url=api_url, timeout=60) as client:
        for _ in range(count):
            client.post(f"/deployments/{deployment_id}/create_flow_run", json={}).raise_for_status()
    sync_prefect(full=True)


def _run_load(url: str, deployment_id: str, args: argparse.Namespace) -> tuple[Tally, Tally, list[str]]:
    reads, triggers, created = Tally(), Tally(), []
    deadline = time.monotonic() + args.seconds

    def reader(token: str) -> None:
        with httpx.Client(headers={"Authorization": f"Bearer {token}"}, timeout=120) as client:
            while time.monotonic() < deadline:
                reads.add(*_timed(client, url, READ, {}, expect=None))
                time.sleep(args.think)

    def operator(token: str) -> None:
        with httpx.Client(headers={"Authorization": f"Bearer {token}"}, timeout=120) as client:
            while time.monotonic() < deadline:
                variables = {"id": deployment_id, "key": f"load-{uuid.uuid4()}"}
                seconds, error = _timed(client, url, TRIGGER, variables, expect="FlowRun")
                triggers.add(seconds, error)
                if error is None:
                    with triggers.lock:
                        created.append(variables["key"])

    tokens = [(reader, role_token("viewer")) for _ in range(args.readers)]
    tokens += [(operator, role_token("operator")) for _ in range(args.operators)]
    threads = [threading.Thread(target=work, args=(token,)) for work, token in tokens]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return reads, triggers, created


def _timed(
    client: httpx.Client, url: str, query: str, variables: dict[str, str], expect: str | None
) -> tuple[float, str | None]:
    start = time.perf_counter()
    try:
        response = client.post(url, json={"query": query, "variables": variables})
    except httpx.HTTPError as exc:
        return time.perf_counter() - start, f"transport: {exc}"
    seconds = time.perf_counter() - start
    if response.status_code != 200:
        return seconds, f"HTTP {response.status_code}: {response.text[:200]}"
    payload = response.json()
    if payload.get("errors"):
        return seconds, f"errors: {payload['errors'][:1]}"
    if expect and payload["data"]["triggerDeployment"]["__typename"] != expect:
        return seconds, f"refused: {payload['data']['triggerDeployment']}"
    return seconds, None


def _report(reads: Tally, triggers: Tally, args: argparse.Namespace) -> str:
    lines = [
        f"load: {args.readers} readers (think {args.think}s) + {args.operators} operators for {args.seconds:.0f}s, "
        f"gunicorn {args.workers} workers",
        f"{'kind':<10}{'requests':>10}{'errors':>8}{'p50 ms':>10}{'p95 ms':>10}{'p99 ms':>10}{'per s':>8}",
    ]
    for name, tally in (("read", reads), ("trigger", triggers)):
        cuts = (
            statistics.quantiles(tally.latencies, n=100, method="inclusive") if len(tally.latencies) > 1 else [0] * 99
        )
        median = statistics.median(tally.latencies) if tally.latencies else 0
        lines.append(
            f"{name:<10}{len(tally.latencies):>10}{len(tally.errors):>8}{median * 1000:>10.1f}{cuts[94] * 1000:>10.1f}"
            f"{cuts[98] * 1000:>10.1f}{len(tally.latencies) / args.seconds:>8.1f}"
        )
    for error in (reads.errors + triggers.errors)[:5]:
        lines.append(f"  error: {error}")
    return "\n".join(lines)


def _audit_check(started: float, created: list[str]) -> str:
    from datetime import UTC, datetime

    from controlplane.audit.chain import verify_chain
    from controlplane.audit.models import AuditEvent

    since = datetime.fromtimestamp(started, tz=UTC)
    events = AuditEvent.objects.filter(action="flow_run.trigger", outcome="success", occurred_at__gte=since).count()
    result = verify_chain()
    verdict = "OK" if result.ok and events == len(created) else "MISMATCH"
    return (
        f"audit: chain {'verifies' if result.ok else 'BROKEN: ' + result.problem} ({result.checked} events); "
        f"{events} trigger events for {len(created)} successful triggers: {verdict}"
    )


if __name__ == "__main__":
    main()
