"""auto_recovery re-runs a crashed run exactly up to the configured retry attempts, audited as the system, and
leaves FAILED runs alone; switched off, it does nothing and says so.

The crash is a real run of the served example pipeline whose state is then set to CRASHED through Prefect's API,
as Prefect's runner does when a run's process dies; the retries are executed by the served flows."""

from __future__ import annotations

import pytest

from controlplane.audit.models import AuditEvent
from flows.auto_recovery import auto_recovery
from flows.serve import ETL_DEPLOYMENT
from tests.prefect_helpers import set_state_in_prefect, wait_until_final
from tests.workflows.real_runs import create_run, failed_run, mirror, mirrored_deployments, wait_for_run_count
from workflows.models import OrchestrationConfig

pytestmark = pytest.mark.prefect


def crash(run_id: str):
    set_state_in_prefect(run_id, "CRASHED", "Crashed", force=True)
    return mirror(run_id)


def test_crashed_run_is_re_run_exactly_up_to_the_retry_attempts_and_failed_runs_are_left_alone(run_flow, served_flows):
    OrchestrationConfig.objects.update_or_create(pk=1, defaults={"auto_recovery_enabled": True, "retry_attempts": 2})
    deployments = mirrored_deployments()
    run_id = create_run(deployments[ETL_DEPLOYMENT], {"rows": 3})
    wait_until_final(run_id)
    failed = failed_run(deployments)

    for attempt in (1, 2):
        run = crash(run_id)
        result, flow_run = run_flow(auto_recovery)
        assert flow_run["state_type"] == "COMPLETED", flow_run["state"]
        assert result["retried"] == [run_id]
        assert wait_for_run_count(run, attempt + 1)["state_type"] == "COMPLETED"  # executed again by serve

    crash(run_id)
    mirror(str(failed.prefect_id))
    result, _ = run_flow(auto_recovery)

    assert result["retried"] == []
    assert result["exhausted"] == [run_id]
    retries = AuditEvent.objects.filter(action="flow_run.retry", target_id=run_id)
    assert [(e.actor_label, e.outcome) for e in retries] == [("system", "success")] * 2
    assert not AuditEvent.objects.filter(action="flow_run.retry", target_id=str(failed.prefect_id)).exists()


def test_switched_off_it_re_runs_nothing_and_says_so(run_flow, served_flows):
    OrchestrationConfig.objects.update_or_create(pk=1, defaults={"auto_recovery_enabled": False})
    run_id = create_run(mirrored_deployments()[ETL_DEPLOYMENT], {"rows": 1})
    wait_until_final(run_id)
    crash(run_id)

    result, flow_run = run_flow(auto_recovery)

    assert flow_run["state_type"] == "COMPLETED"
    assert result["enabled"] is False and "switched off" in result["message"]
    assert not AuditEvent.objects.filter(action="flow_run.retry").exists()
