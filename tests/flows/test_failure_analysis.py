"""`failure_analysis` over real runs of a served deployment (mirrored by the real sync): a recurring error found by
its traceback line, a flaky deployment (failed, then completed with the same parameters), the artifact, the alert."""

from __future__ import annotations

import sys
from collections.abc import Iterator

import pytest

from controlplane.devstack.processes import ManagedProcess
from flows.failure_analysis import ARTIFACT_KEY, FAILURE_RATE_RULE, failure_analysis
from monitoring.models import Alert
from tests.flows.conftest import artifacts_of
from tests.prefect_helpers import REPO_ROOT, deployment_id, wait_for_deployments, wait_until_final
from workflows import prefect_api
from workflows.sync import sync_prefect

pytestmark = pytest.mark.prefect
DEPLOYMENT = "warehouse-nightly"
FULL_NAME = f"warehouse_load/{DEPLOYMENT}"


@pytest.fixture(scope="module")
def warehouse_deployment(prefect_server) -> Iterator[str]:
    program = f"from tests.flows.sample_flows import warehouse_load; warehouse_load.serve(name={DEPLOYMENT!r})"
    env = {**prefect_server.client_env(), "PREFECT_RUNNER_POLL_FREQUENCY": "1"}
    process = ManagedProcess(
        "serve-warehouse", [sys.executable, "-c", program], env, log_file=prefect_server.home / "serve-warehouse.log",
        cwd=REPO_ROOT,
    ).start()  # fmt: skip
    try:
        wait_for_deployments(process, {DEPLOYMENT})
        yield deployment_id(DEPLOYMENT)
    finally:
        process.stop()


def _run(deployment: str, parameters: dict) -> dict:
    return prefect_api.create_flow_run_from_deployment(deployment, parameters)


def test_failure_analysis_finds_the_recurring_error_and_the_flaky_deployment(warehouse_deployment, run_flow, tmp_path):
    marker = str(tmp_path / "warehouse-ready")
    first = [_run(warehouse_deployment, {"always_fail": True}) for _ in range(2)]
    first.append(_run(warehouse_deployment, {"marker": marker}))
    assert [wait_until_final(run["id"])["state_type"] for run in first] == ["FAILED"] * 3
    recovered = wait_until_final(_run(warehouse_deployment, {"marker": marker})["id"])
    assert recovered["state_type"] == "COMPLETED"
    sync_prefect()

    summary, run = run_flow(failure_analysis, window_hours=1, failure_rate_threshold=50, min_runs=3)

    assert run["state_type"] == "COMPLETED", run["state"]
    # The exception line of the traceback in the runs' logs (their state message says "Flow run encountered …").
    recurring = [r for r in summary["recurring"] if r["deployment"] == FULL_NAME]
    assert recurring == [
        {
            "deployment": FULL_NAME,
            "error": "ConnectionRefusedError: warehouse at 127.0.0.1:1 refused the connection",
            "runs": 2,
        }
    ]
    assert {"deployment": FULL_NAME, "parameters": f'{{"marker": "{marker}"}}'} in summary["flaky"]
    assert FULL_NAME in summary["alerted"]  # 3 of 4 failed: 75 % > 50 %
    alert = Alert.objects.get(rule=FAILURE_RATE_RULE, subject=f"deployment:{FULL_NAME}")
    assert alert.last_value == 75.0 and "ConnectionRefusedError" in alert.message
    (artifact,) = [a for a in artifacts_of(run["id"]) if a["key"] == ARTIFACT_KEY]
    # Prefect logs no traceback for a TimeoutError (it reads as the run's own timeout): the state message stands in.
    assert "TimeoutError('warehouse busy" in artifact["data"] and "## Flaky deployments" in artifact["data"]
