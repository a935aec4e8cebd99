"""Prefect objects the gateway tests act on, made straight in the locked test server (with its auth string)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from tests.prefect_helpers import create_deployment_in_prefect, prefect_post, prefect_request

DEPLOYMENT = "gateway-tests"


def gateway_deployment() -> dict[str, Any]:
    """A deployment in a pool no worker polls: its runs stay scheduled until someone changes them."""
    return create_deployment_in_prefect(DEPLOYMENT, work_pool="gateway-tests-pool")


def scheduled_run(deployment_id: str, hours_ahead: int = 24) -> dict[str, Any]:
    when = (datetime.now(UTC) + timedelta(hours=hours_ahead)).isoformat()
    body = {"state": {"type": "SCHEDULED", "name": "Scheduled", "state_details": {"scheduled_time": when}}}
    return prefect_post(f"/deployments/{deployment_id}/create_flow_run", body)


def run_state(run_id: str) -> str:
    response = prefect_request("GET", f"/flow_runs/{run_id}")
    response.raise_for_status()
    return response.json()["state_type"]


def cancelling_body() -> dict[str, Any]:
    return {"state": {"type": "CANCELLING", "name": "Cancelling", "message": "through the gateway"}}
