"""Helpers for tests that need Prefect to execute runs: serve the flows of `flows/` as `make run` does, find a
served deployment, wait for a run to finish."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
from django.conf import settings

from controlplane.devstack.processes import ManagedProcess
from flows.serve import ETL_DEPLOYMENT, HEALTH_CHECK_DEPLOYMENT
from tests.prefect_server import PrefectTestServer
from workflows import prefect_api

REPO_ROOT = Path(__file__).resolve().parents[1]
FINAL_STATE_TYPES = {"COMPLETED", "FAILED", "CRASHED", "CANCELLED"}


# The concurrency cap the served deployments run under in tests (tests of the cap itself set their own): well above
# what any test runs at once, so slots still held by earlier tests' runs (Prefect releases a cancelled run's slot
# only once its runner has stopped it) never hold a later test's run in AwaitingConcurrencySlot.
TEST_CONCURRENCY_CAP = 25
# The suite's Prefect clients wait longer and retry more than production's defaults: the test server keeps its data
# in SQLite while the served flows write to it, so it sometimes answers late or 503 ("database is locked").
PATIENT_TIMEOUT_SECONDS = 30.0
PATIENT_RETRIES = 3  # Prefect backs off 2, 4, 8 s: a locked SQLite has freed up by then
# The configuration the served-flow tests run under: the generous cap, and no automatic retries of triggered runs (a
# run a test makes fail ends FAILED at once; tests/workflows/test_services_prefect.py proves the retries themselves).
TEST_CONFIG = {"max_concurrent_runs": TEST_CONCURRENCY_CAP, "retry_attempts": 0}


def start_flow_server(server: PrefectTestServer) -> ManagedProcess:
    """`python -m flows.serve` against the test server, polling every second; returns once both are served."""
    # Runs other tests left behind (a cancelled 60 s run the runner is still stopping) must never fill the runner's
    # slots and starve the next test's runs: a generous limit, as TEST_CONCURRENCY_CAP is for Prefect's own.
    env = {**server.client_env(), "PREFECT_RUNNER_POLL_FREQUENCY": "1", "HEALTH_CHECK_INTERVAL_SECONDS": "3600",
           "SERVE_CONCURRENCY_LIMIT": str(TEST_CONCURRENCY_CAP),
           # Only what the tests run: the rest of the catalogue's schedules would load the SQLite test server.
           "FLOWS_SERVE_ONLY": f"{HEALTH_CHECK_DEPLOYMENT},{ETL_DEPLOYMENT}"}  # fmt: skip
    process = ManagedProcess(
        "serve", [sys.executable, "-m", "flows.serve"], env, log_file=server.home / "serve.log", cwd=REPO_ROOT
    ).start()
    wait_for_deployments(process, {HEALTH_CHECK_DEPLOYMENT, ETL_DEPLOYMENT})
    return process


def serve_etl_deployment(server: PrefectTestServer, name: str) -> ManagedProcess:
    """A second serve process with one deployment of the example pipeline, `name`, for a test that needs a
    deployment no other test has runs of; stop it when done."""
    program = f"from flows.etl_pipeline import etl_pipeline; etl_pipeline.serve(name={name!r})"
    env = {**server.client_env(), "PREFECT_RUNNER_POLL_FREQUENCY": "1"}
    process = ManagedProcess(
        f"serve-{name}", [sys.executable, "-c", program], env, log_file=server.home / f"serve-{name}.log", cwd=REPO_ROOT
    ).start()
    try:
        wait_for_deployments(process, {name})
    except BaseException:
        process.stop()
        raise
    return process


def wait_for_deployments(process: ManagedProcess, names: set[str], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.is_alive(), "flows.serve exited"
        if names <= {d["name"] for d in served_deployments()}:
            return
        time.sleep(0.5)
    raise AssertionError(f"deployments {names} not served within {timeout}s")


def served_deployments() -> list[dict[str, Any]]:
    return [deployment for page in prefect_api.iter_deployments() for deployment in page]


def deployment_id(name: str) -> str:
    return next(d["id"] for d in served_deployments() if d["name"] == name)


def wait_for_run(
    flow_run_id: Any, accept: Callable[[dict[str, Any]], bool], wanted: str, timeout: float = 90
) -> dict[str, Any]:
    """Poll Prefect until `accept(run)`; returns the run's JSON. `wanted` says what was awaited, for the failure."""
    deadline = time.monotonic() + timeout
    while True:
        run = prefect_api.read_flow_run(flow_run_id)
        if accept(run):
            return run
        if time.monotonic() > deadline:
            raise AssertionError(f"flow run {flow_run_id} is {run['state_name']} after {timeout}s, wanted {wanted}")
        time.sleep(0.3)


def wait_for_state(flow_run_id: Any, wanted: set[str], timeout: float = 60) -> dict[str, Any]:
    return wait_for_run(flow_run_id, lambda run: run["state_type"] in wanted, f"a state in {wanted}", timeout)


def wait_until_final(flow_run_id: Any, timeout: float = 90) -> dict[str, Any]:
    """Poll Prefect until the run is in a final state; returns the run's JSON."""
    return wait_for_state(flow_run_id, FINAL_STATE_TYPES, timeout)


# --- Building Prefect objects directly through its REST API (sync/listener tests) ----------------------------------


def prefect_request(method: str, path: str, body: dict[str, Any] | None = None, attempts: int = 10) -> httpx.Response:
    """A request to the test server; retries its 503 "database is locked" (SQLite under its own background
    services and the served flows); raises on any other error status."""
    for attempt in range(attempts):
        response = httpx.request(method, f"{prefect_api.api_url()}{path}", json=body, auth=_auth(), timeout=30)
        if response.status_code != 503 or attempt == attempts - 1:
            break
        time.sleep(0.2 * (attempt + 1))
    return response


def _auth() -> tuple[str, str] | None:
    """The locked test server's credential (settings.PREFECT_API_AUTH_STRING), as httpx's basic auth."""
    user, _, password = settings.PREFECT_API_AUTH_STRING.partition(":")
    return (user, password) if settings.PREFECT_API_AUTH_STRING else None


def prefect_post(path: str, body: dict[str, Any]) -> Any:
    response = prefect_request("POST", path, body)
    response.raise_for_status()
    return response.json() if response.content else None


def prefect_delete(path: str) -> None:
    prefect_request("DELETE", path).raise_for_status()


def create_deployment_in_prefect(name: str, work_pool: str = "test-pool", **fields: Any) -> dict[str, Any]:
    """A flow named `name`, and a deployment `name` of it in `work_pool` (created if needed); returns the deployment."""
    pool = prefect_request("POST", "/work_pools/", {"name": work_pool, "type": "process"})
    assert pool.status_code in (201, 409), pool.text
    flow = prefect_post("/flows/", {"name": name})
    body = {"name": name, "flow_id": flow["id"], "work_pool_name": work_pool, "enforce_parameter_schema": False}
    return prefect_post("/deployments/", {**body, **fields})


def create_flow_run_in_prefect(deployment: dict[str, Any], name: str, **fields: Any) -> dict[str, Any]:
    """A Scheduled run of `deployment`, created as Prefect's UI does (so it lands in the deployment's work queue);
    extra fields go into the POST body."""
    body = {"name": name, **fields}
    body.setdefault("state", {"type": "SCHEDULED", "name": "Scheduled"})
    return prefect_post(f"/deployments/{deployment['id']}/create_flow_run", body)


def set_state_in_prefect(flow_run_id: str, state_type: str, name: str, force: bool = False) -> dict[str, Any]:
    result = prefect_post(
        f"/flow_runs/{flow_run_id}/set_state", {"state": {"type": state_type, "name": name}, "force": force}
    )
    assert result["status"] == "ACCEPT", result
    return result


def delete_flow_run_in_prefect(flow_run_id: str) -> None:
    prefect_delete(f"/flow_runs/{flow_run_id}")


def flow_runs_in_prefect(flow_id: str) -> list[dict[str, Any]]:
    body = {"flows": {"id": {"any_": [flow_id]}}, "sort": "EXPECTED_START_TIME_DESC"}
    return [run for page in prefect_api.iter_pages("/flow_runs/filter", body) for run in page]
