"""A run created and cancelled through the gateway reaches the mirror like any other: the listener applies Prefect's
events, and a sync agrees."""

from __future__ import annotations

import sys
import time
import uuid

import pytest

from controlplane.devstack.processes import ManagedProcess
from tests.gateway.conftest import manage
from tests.gateway.helpers import cancelling_body, gateway_deployment
from tests.prefect_helpers import REPO_ROOT

pytestmark = pytest.mark.prefect
DEADLINE = 90


def _mirrored_state(gateway, run_id: str) -> str | None:
    rows = gateway.query("SELECT state_type FROM workflows_flowrun WHERE prefect_id = ?", uuid.UUID(run_id).hex)
    return rows[0][0] if rows else None


def _wait_for_state(gateway, run_id: str, wanted: set[str]) -> str:
    deadline = time.monotonic() + DEADLINE
    while (state := _mirrored_state(gateway, run_id)) not in wanted:
        assert time.monotonic() < deadline, f"mirror shows {state} for {run_id} after {DEADLINE}s, wanted {wanted}"
        time.sleep(0.5)
    return state


def test_a_run_created_and_cancelled_through_the_gateway_reaches_the_mirror(gateway):
    deployment = gateway_deployment()
    manage(gateway.env, "sync_prefect")  # the deployment known to the mirror, as the beat sync would have it
    listener = ManagedProcess(
        "gateway-listener",
        [sys.executable, "manage.py", "listen_prefect_events"],
        gateway.env,
        log_file=gateway.home / "listener.log",
        cwd=REPO_ROOT,
    ).start()
    try:
        operator = gateway.as_role("operator")
        run_id = operator.post(f"/prefect/api/deployments/{deployment['id']}/create_flow_run", json={}).json()["id"]
        _wait_for_state(gateway, run_id, {"SCHEDULED"})
        answer = operator.post(f"/prefect/api/flow_runs/{run_id}/set_state", json=cancelling_body())
        assert answer.status_code in (200, 201), answer.text
        _wait_for_state(gateway, run_id, {"CANCELLED"})
    finally:
        listener.stop()
    manage(gateway.env, "sync_prefect")
    assert _mirrored_state(gateway, run_id) == "CANCELLED"
