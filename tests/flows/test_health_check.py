"""The health check reports the host and whether the database, broker and Prefect answer, as an artifact."""

from __future__ import annotations

import pytest
from django.test import override_settings

from flows.health_check import REPORT_KEY, health_check
from tests.flows.conftest import artifacts_of
from workflows import prefect_api

pytestmark = pytest.mark.prefect


def test_health_check_reports_reachable_components_in_a_markdown_artifact(run_flow):
    result, run = run_flow(health_check)

    assert run["state_type"] == "COMPLETED", run["state"]
    assert result["status"] == "ok", result["components"]
    assert set(result["components"]) == {"database", "broker", "prefect_api"}
    (artifact,) = [a for a in artifacts_of(run["id"]) if a["key"] == REPORT_KEY]
    assert artifact["type"] == "markdown"
    assert "| prefect_api | ok |" in artifact["data"]


def test_health_check_reports_prefect_down_and_still_completes(run_flow):
    # The control plane's client points nowhere during the run; the flow's own Prefect client still reports it.
    with override_settings(PREFECT_API_URL="http://127.0.0.1:9/api"):
        state = health_check(return_state=True)
    result = state.result()
    run = prefect_api.read_flow_run(state.state_details.flow_run_id)

    assert run["state_type"] == "COMPLETED", run["state"]
    assert result["status"] == "down"
    assert result["components"]["prefect_api"]["status"] == "down"
