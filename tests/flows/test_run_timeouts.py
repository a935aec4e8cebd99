"""The default timeout takes effect: run_timeouts cancels a served run RUNNING longer than it, as the system."""

from __future__ import annotations

import pytest

from controlplane.audit.models import AuditEvent
from flows.run_timeouts import run_timeouts
from flows.serve import ETL_DEPLOYMENT
from tests.prefect_helpers import wait_for_state
from tests.workflows.real_runs import create_run, mirror, mirrored_deployments
from workflows.models import OrchestrationConfig

pytestmark = pytest.mark.prefect


def test_a_run_past_the_default_timeout_is_cancelled_and_a_younger_one_is_not(run_flow, served_flows):
    OrchestrationConfig.objects.update_or_create(pk=1, defaults={"default_timeout_seconds": 3600})
    run_id = create_run(mirrored_deployments()[ETL_DEPLOYMENT], {"rows": 1, "sleep_seconds": 60})
    wait_for_state(run_id, {"RUNNING"})
    mirror(run_id)

    result, _ = run_flow(run_timeouts)
    assert result["cancelled"] == []

    OrchestrationConfig.objects.filter(pk=1).update(default_timeout_seconds=1)
    result, flow_run = run_flow(run_timeouts)

    assert flow_run["state_type"] == "COMPLETED", flow_run["state"]
    assert result["cancelled"] == [run_id]
    assert wait_for_state(run_id, {"CANCELLED"}, timeout=180)["state_type"] == "CANCELLED"
    event = AuditEvent.objects.get(action="flow_run.cancel", target_id=run_id)
    assert (event.actor_label, event.outcome) == ("system", "success")
