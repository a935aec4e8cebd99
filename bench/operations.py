"""Latency of our GraphQL operations (trigger, cancel, bulk cancel, a 500-run background job) against Prefect's own
endpoints for the same work, measured side by side, interleaved, over HTTP on loopback.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/cp_bench_ops .venv/bin/python -m bench.operations

What it does: starts a Prefect server (its own process, on its own PostgreSQL database `--prefect-db`: on SQLite it
answers 503 "database is locked" under the setup's bursts of writes), creates a deployment in a process
work pool that no worker polls — so runs change state only when the benchmark changes them and no flow execution
competes for the CPU — and mirrors it. Starts gunicorn (2 workers, 60 s timeout) and one Celery worker on the mirror,
with an operator's API token. Then, per round, one request to each side in turn:

- Prefect `POST /deployments/{id}/create_flow_run` vs our `triggerDeployment` (same deployment, same parameters);
- Prefect `POST /flow_runs/{id}/set_state` (Cancelling) vs our `cancelFlowRun`, each on a run of its own that the
  benchmark has put into Running beforehand (untimed), so both sides make the same Running → Cancelling transition.

Then `bulkCancel` of 100 Running runs (one request, within the synchronous limit: 100 per-item results checked),
next to Prefect's own `bulk_set_state` for 100 runs (two requests, its limit is 50); and 500 runs through the job
path: the `bulkCancel` request, then `bulkOperation(id)` polled until finished, with the progress seen on the way.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from bench.graphql import _ensure_postgres_database, _percentiles, _setup_django, _wait_for, role_token

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_PREFECT_DB = "postgresql+asyncpg://postgres@127.0.0.1:5432/cp_bench_ops_prefect"
TRIGGER = """mutation T($id: ID!) { triggerDeployment(deploymentId: $id, parameters: {}) {
  __typename ... on FlowRun { prefectId } ... on OperationInfo { messages { message } } } }"""
CANCEL = """mutation C($id: ID!) { cancelFlowRun(id: $id) {
  __typename ... on FlowRun { stateType } ... on OperationInfo { messages { message } } } }"""
BULK_CANCEL = """mutation B($ids: [ID!]!) { bulkCancel(ids: $ids) { __typename
  ... on BulkResult { succeeded failed items { ok error } }
  ... on BulkOperation { id status total done }
  ... on OperationInfo { messages { message } } } }"""
JOB = """query J($id: ID!) { bulkOperation(id: $id) { status total done succeeded failed } }"""


def main() -> None:
    args = _arguments()
    home, prefect, api_url = start_bench_prefect("ops", args.prefect_db)
    from controlplane.devstack.processes import ManagedProcess, free_port

    processes = [prefect]
    try:
        deployment_id = _idle_deployment(api_url)
        token = role_token("operator")
        env = _web_env(api_url)
        web_port = free_port()
        processes.append(_start_web(ManagedProcess, env, web_port, home))
        processes.append(_start_worker(ManagedProcess, env, home))
        _wait_for(f"http://127.0.0.1:{web_port}/admin/login/", processes[-2].is_alive)
        bench = Bench(f"http://127.0.0.1:{web_port}/graphql/", api_url, token, deployment_id)
        print(bench.run(args.iterations, args.warmup, args.bulk, args.job), flush=True)
    finally:
        for process in reversed(processes):
            process.stop()


def start_bench_prefect(name: str, prefect_db: str) -> tuple[Path, Any, str]:
    """A temporary home, the mirror migrated, and a Prefect server on its own PostgreSQL database `prefect_db`, up
    and set as `settings.PREFECT_API_URL`; returns (home, the server's process, its API URL). Stop the process."""
    home = Path(tempfile.mkdtemp(prefix=f"cp-bench-{name}-"))
    os.environ.setdefault("VAR_DIR", str(home / "var"))
    # A fixed key, not the new home's random one: a rerun on the same database must still verify the audit chain.
    os.environ.setdefault("AUDIT_HMAC_KEY", "bench-only-audit-key")
    _setup_django()
    from django.conf import settings
    from django.core.management import call_command

    from controlplane.devstack.processes import (
        ManagedProcess,
        free_port,
        prefect_server_command,
        prefect_server_env,
        wait_for_prefect,
    )

    call_command("migrate", verbosity=0)
    _ensure_postgres_database(prefect_db.replace("+asyncpg", ""))
    port = free_port()
    env = {**prefect_server_env(home / "prefect", port), "PREFECT_SERVER_DATABASE_CONNECTION_URL": prefect_db}
    prefect = ManagedProcess(
        f"prefect-{name}", prefect_server_command("127.0.0.1", port), env, log_file=home / "prefect.log"
    ).start()
    api_url = f"http://127.0.0.1:{port}/api"
    try:
        wait_for_prefect(api_url, 120, prefect.is_alive)
    except BaseException:
        prefect.stop()
        raise
    settings.PREFECT_API_URL = api_url
    return home, prefect, api_url


def _web_env(api_url: str) -> dict[str, str]:
    """Environment of the benchmark's gunicorn and Celery worker: the same mirror and Prefect as this process. The
    per-token mutation budget is lifted: back-to-back operations on a fast machine exceed its 300 a minute, and the
    benchmark measures latency, not the budget (tests/controlplane/api/test_rate_limit.py covers that)."""
    return {"PREFECT_API_URL": api_url, "VAR_DIR": os.environ["VAR_DIR"], "ALLOWED_HOSTS": "127.0.0.1",
            "DEBUG": "false", "DATABASE_URL": os.environ["DATABASE_URL"],
            "API_RATE_LIMIT_MUTATIONS": "1000000", "API_RATE_LIMIT_QUERIES": "1000000"}  # fmt: skip


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=200, help="measured rounds of trigger and cancel")
    parser.add_argument("--warmup", type=int, default=20, help="unmeasured rounds first")
    parser.add_argument("--bulk", type=int, default=100, help="runs per synchronous bulkCancel")
    parser.add_argument("--job", type=int, default=500, help="runs of the background bulkCancel job")
    parser.add_argument("--prefect-db", default=DEFAULT_PREFECT_DB, help="Prefect's own PostgreSQL database")
    return parser.parse_args()


def _idle_deployment(api_url: str) -> str:
    """A deployment in a process work pool nobody polls, mirrored; returns its Prefect id."""
    from workflows.references import sync_reference_data

    with httpx.Client(base_url=api_url, timeout=30) as client:
        client.post("/work_pools/", json={"name": "bench-idle", "type": "process"})
        flow = client.post("/flows/", json={"name": "bench-ops"}).raise_for_status().json()
        body = {"name": f"ops-{uuid.uuid4().hex[:6]}", "flow_id": flow["id"], "work_pool_name": "bench-idle"}
        deployment = client.post("/deployments/", json=body).raise_for_status().json()
    sync_reference_data()
    return deployment["id"]


def _start_web(process_class: Any, env: dict[str, str], port: int, home: Path, workers: int = 2) -> Any:
    gunicorn = str(Path(sys.executable).with_name("gunicorn"))
    command = [gunicorn, "controlplane.wsgi", "--bind", f"127.0.0.1:{port}", "--workers", str(workers), "--timeout",
               "60"]  # fmt: skip
    return process_class("gunicorn-bench", command, env, log_file=home / "gunicorn.log", cwd=REPO_ROOT).start()


def _start_worker(process_class: Any, env: dict[str, str], home: Path) -> Any:
    celery = str(Path(sys.executable).with_name("celery"))
    command = [celery, "-A", "controlplane", "worker", "-l", "INFO", "-c", "1", "-n", "bench@%h"]
    return process_class("celery-bench", command, env, log_file=home / "celery.log", cwd=REPO_ROOT).start()


class Bench:
    def __init__(self, graphql_url: str, api_url: str, token: str, deployment_id: str) -> None:
        self.graphql_url = graphql_url
        self.deployment_id = deployment_id
        self.ours = httpx.Client(headers={"Authorization": f"Bearer {token}"}, timeout=120)
        self.prefect = httpx.Client(base_url=api_url, timeout=120)

    # --- the two sides -------------------------------------------------------------------------------------------

    def graphql(self, query: str, variables: dict[str, Any]) -> dict[str, Any]:
        response = self.ours.post(self.graphql_url, json={"query": query, "variables": variables})
        payload = response.json()
        if response.status_code != 200 or "errors" in payload:
            raise RuntimeError(f"GraphQL failed: {response.status_code} {payload}")
        return payload["data"]

    def prefect_post(self, path: str, body: dict[str, Any]) -> Any:
        return self.prefect.post(path, json=body).raise_for_status().json()

    def prefect_create(self) -> str:
        body = {"parameters": {}, "state": {"type": "SCHEDULED", "name": "Scheduled"}}
        return self.prefect_post(f"/deployments/{self.deployment_id}/create_flow_run", body)["id"]

    def our_trigger(self) -> str:
        answer = self.graphql(TRIGGER, {"id": self.deployment_id})["triggerDeployment"]
        if answer["__typename"] != "FlowRun":
            raise RuntimeError(f"triggerDeployment refused: {answer}")
        return answer["prefectId"]

    def prefect_cancel(self, run_id: str) -> None:
        result = self.prefect_post(f"/flow_runs/{run_id}/set_state", {"state": {"type": "CANCELLING"}})
        if result["status"] != "ACCEPT":
            raise RuntimeError(f"Prefect refused the cancel: {result}")

    def our_cancel(self, run_id: str) -> None:
        answer = self.graphql(CANCEL, {"id": run_id})["cancelFlowRun"]
        if answer.get("stateType") != "CANCELLING":
            raise RuntimeError(f"cancelFlowRun did not cancel: {answer}")

    def make_running(self, run_id: str) -> None:
        body = {"state": {"type": "RUNNING", "name": "Running"}, "force": True}
        self.prefect_post(f"/flow_runs/{run_id}/set_state", body)

    # --- measurements --------------------------------------------------------------------------------------------

    def run(self, iterations: int, warmup: int, bulk: int, job: int) -> str:
        timings: dict[str, list[float]] = {name: [] for name in SIDES}
        for round_number in range(warmup + iterations):
            theirs = timed(self.prefect_create)
            ours = timed(self.our_trigger)
            self.make_running(theirs.answer)
            self.make_running(ours.answer)
            their_cancel = timed(self.prefect_cancel, theirs.answer)
            our_cancel = timed(self.our_cancel, ours.answer)
            if round_number >= warmup:
                for name, sample in zip(SIDES, (theirs, ours, their_cancel, our_cancel), strict=True):
                    timings[name].append(sample.ms)
        lines = [_table(timings, iterations)]
        lines.extend(self.bulk_cancel(bulk))
        lines.extend(self.job(job))
        return "\n".join(lines)

    def running_runs(self, count: int) -> list[str]:
        """`count` Running runs of the deployment, mirrored (through the control plane's own sync upsert)."""
        from workflows import prefect_api
        from workflows.mirror import upsert_flow_runs

        ids = [self.prefect_create() for _ in range(count)]
        for run_id in ids:
            self.make_running(run_id)
        upsert_flow_runs(prefect_api.read_flow_runs_by_id(ids), with_history=False, force=True)
        return ids

    def bulk_cancel(self, count: int, repeats: int = 5) -> list[str]:
        ours, theirs = [], []
        for _ in range(repeats):
            ids = self.running_runs(count)
            sample = timed(self.bulk_cancel_request, ids)
            answer = sample.answer
            if answer["__typename"] != "BulkResult" or answer["succeeded"] != count or len(answer["items"]) != count:
                raise RuntimeError(f"bulkCancel of {count}: {answer}")
            ours.append(sample.ms)
            other = self.running_runs(count)
            theirs.append(timed(self.prefect_bulk_cancel, other).ms)
        return [
            "",
            f"bulkCancel of {count} Running runs, one request each time, {repeats} times (all {count} per-item results "
            f"ok each time): ours {_ms_list(ours)}; Prefect's own `bulk_set_state` for {count} runs "
            f"({-(-count // 50)} requests of ≤ 50): {_ms_list(theirs)}.",
        ]

    def bulk_cancel_request(self, ids: list[str]) -> dict[str, Any]:
        return self.graphql(BULK_CANCEL, {"ids": ids})["bulkCancel"]

    def prefect_bulk_cancel(self, ids: list[str]) -> None:
        for start in range(0, len(ids), 50):
            chunk = ids[start : start + 50]
            body = {"flow_runs": {"id": {"any_": chunk}}, "state": {"type": "CANCELLING"}, "limit": len(chunk)}
            results = self.prefect_post("/flow_runs/bulk_set_state", body)["results"]
            if len(results) != len(chunk):
                raise RuntimeError("Prefect's bulk_set_state skipped runs")

    def job(self, count: int) -> list[str]:
        ids = self.running_runs(count)
        started = time.perf_counter()
        submitted = timed(self.bulk_cancel_request, ids)
        if submitted.answer["__typename"] != "BulkOperation":
            raise RuntimeError(f"bulkCancel of {count} did not become a job: {submitted.answer}")
        progress: list[tuple[float, int]] = []
        while True:
            state = self.graphql(JOB, {"id": submitted.answer["id"]})["bulkOperation"]
            if not progress or progress[-1][1] != state["done"]:
                progress.append((time.perf_counter() - started, state["done"]))
            if state["status"] in ("finished", "failed"):
                break
            if time.perf_counter() - started > 600:
                raise RuntimeError(f"the job did not finish within 600 s: {state}")
            time.sleep(0.2)
        total = time.perf_counter() - started
        seen = ", ".join(f"{done} at {at:.1f} s" for at, done in progress)
        return [
            "",
            f"bulkCancel of {count} Running runs as a background job: the request answered the job in "
            f"{submitted.ms:.0f} ms; job {state['status']} with {state['succeeded']} succeeded, {state['failed']} "
            f"failed, {total:.1f} s from the request to `finished` (polled every 0.2 s); progress seen: {seen}.",
        ]


SIDES = (
    "Prefect: POST /deployments/{id}/create_flow_run",
    "ours: triggerDeployment",
    "Prefect: POST /flow_runs/{id}/set_state (Cancelling)",
    "ours: cancelFlowRun",
)


class Sample:
    def __init__(self, ms: float, answer: Any) -> None:
        self.ms = ms
        self.answer = answer


def timed(work: Callable[..., Any], *args: Any) -> Sample:
    started = time.perf_counter()
    answer = work(*args)
    return Sample((time.perf_counter() - started) * 1000, answer)


def _table(timings: dict[str, list[float]], iterations: int) -> str:
    lines = [
        f"{iterations} interleaved rounds after warm-up (each: Prefect create, our trigger, Prefect cancel, our "
        "cancel).",
        "",
        "| request | p50 ms | p95 ms | p50 / Prefect's | p95 / Prefect's |",
        "|---|---:|---:|---:|---:|",
    ]
    for baseline, ours in ((SIDES[0], SIDES[1]), (SIDES[2], SIDES[3])):
        base_p50, base_p95 = _percentiles(timings[baseline])
        p50, p95 = _percentiles(timings[ours])
        lines.append(f"| {baseline} | {base_p50:.1f} | {base_p95:.1f} | 1.00 | 1.00 |")
        lines.append(f"| {ours} | {p50:.1f} | {p95:.1f} | **{p50 / base_p50:.2f}** | {p95 / base_p95:.2f} |")
    return "\n".join(lines)


def _ms_list(samples: list[float]) -> str:
    return f"median {statistics.median(samples):.0f} ms (all: {', '.join(f'{s:.0f}' for s in samples)} ms)"


if __name__ == "__main__":
    main()
