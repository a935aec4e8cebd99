"""Real flow runs in the states the operation tests need, created in the session's Prefect server by the served
flows and mirrored with the sync's own upsert (no hand-made stand-ins for Prefect data)."""

from __future__ import annotations

import time
from typing import Any

from flows.serve import ETL_DEPLOYMENT, HEALTH_CHECK_DEPLOYMENT
from tests.prefect_helpers import served_deployments, wait_until_final
from workflows import prefect_api
from workflows.mirror import upsert_flow_runs
from workflows.models import Deployment, FlowRun
from workflows.references import sync_reference_data

ROLES = ["viewer", "operator", "admin", "auditor"]
OPERATING_ROLES = {"operator", "admin"}


def mirrored_deployments() -> dict[str, Deployment]:
    """The served deployments, resumed and mirrored.

    A serve process pauses its deployments when it stops (Prefect's `pause_on_shutdown`), so a module that served
    the flows with its own process leaves them paused for the next module.
    """
    for deployment in served_deployments():
        if deployment["name"] in (ETL_DEPLOYMENT, HEALTH_CHECK_DEPLOYMENT) and deployment.get("paused"):
            prefect_api.set_deployment_paused(deployment["id"], False)
    sync_reference_data()
    names = [ETL_DEPLOYMENT, HEALTH_CHECK_DEPLOYMENT]
    return {d.name: d for d in Deployment.objects.select_related("flow", "work_pool").filter(name__in=names)}


def mirrored_deployment(name: str) -> Deployment:
    """A deployment served by a test's own serve process, mirrored."""
    sync_reference_data()
    return Deployment.objects.select_related("flow", "work_pool").get(name=name)


def mirror(flow_run_id: str) -> FlowRun:
    (row,) = upsert_flow_runs([prefect_api.read_flow_run(flow_run_id)], force=True)
    return FlowRun.objects.select_related("deployment__flow").get(pk=row.pk)


def create_run(deployment: Deployment, parameters: dict[str, Any]) -> str:
    return prefect_api.create_flow_run_from_deployment(deployment.prefect_id, parameters)["id"]


def finished_run(deployments: dict[str, Deployment]) -> FlowRun:
    run_id = create_run(deployments[HEALTH_CHECK_DEPLOYMENT], {})
    wait_until_final(run_id)
    return mirror(run_id)


def failed_run(deployments: dict[str, Deployment]) -> FlowRun:
    run_id = create_run(deployments[ETL_DEPLOYMENT], {"rows": -1})
    assert wait_until_final(run_id)["state_type"] == "FAILED"
    return mirror(run_id)


def slow_run(deployments: dict[str, Deployment]) -> FlowRun:
    """A run that stays unfinished for a minute (scheduled, pending or running): something to cancel."""
    return mirror(create_run(deployments[ETL_DEPLOYMENT], {"rows": 1, "sleep_seconds": 60}))


def state_in_prefect(run: FlowRun) -> str:
    return prefect_api.read_flow_run(run.prefect_id)["state_type"]


def wait_for_run_count(run: FlowRun, count: int, timeout: float = 90) -> dict[str, Any]:
    """Wait until the run has started `count` times and is final again (a retried run ran again)."""
    deadline = time.monotonic() + timeout
    while True:
        payload = prefect_api.read_flow_run(run.prefect_id)
        if payload["run_count"] >= count and payload["state_type"] in {"COMPLETED", "FAILED", "CRASHED", "CANCELLED"}:
            return payload
        if time.monotonic() > deadline:
            raise AssertionError(f"run {run.prefect_id}: run_count {payload['run_count']}, {payload['state_type']}")
        time.sleep(0.5)


def cancel_leftover(run: FlowRun) -> None:
    """Stop a slow run a refused test left behind, so it does not occupy the served process."""
    if prefect_api.read_flow_run(run.prefect_id)["state_type"] not in {"COMPLETED", "FAILED", "CRASHED", "CANCELLED"}:
        prefect_api.cancel_flow_run(run.prefect_id)


def manual_runs_of(deployment: Deployment) -> int:
    """Runs created by a trigger; the scheduler's own future runs (auto_scheduled) come and go on their own."""
    runs_filter = {"deployment_id": {"any_": [str(deployment.prefect_id)]}}
    return sum(not run.get("auto_scheduled") for page in prefect_api.iter_flow_runs(runs_filter) for run in page)
