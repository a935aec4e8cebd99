"""A run that fails in Prefect is alerted on as soon as the events listener mirrors it (the listener's batch is
applied here exactly as the listener applies it; tests/workflows/test_listener.py proves events reach it within
seconds). Against the real Prefect test server."""

from __future__ import annotations

import uuid

import pytest

from monitoring.models import Alert, DeploymentAlertRule
from tests.prefect_helpers import create_deployment_in_prefect, create_flow_run_in_prefect, set_state_in_prefect
from workflows import listener
from workflows.configuration import current_config
from workflows.models import Deployment
from workflows.references import sync_reference_data

pytestmark = [pytest.mark.prefect, pytest.mark.django_db, pytest.mark.usefixtures("prefect_server")]


def run_in_state(state_type: str, watched: bool = True) -> str:
    name = f"alerting-{uuid.uuid4().hex[:8]}"
    payload = create_deployment_in_prefect(name, work_pool="idle-pool")
    sync_reference_data()
    deployment = Deployment.objects.get(prefect_id=payload["id"])
    DeploymentAlertRule.objects.create(deployment=deployment, alert_on_failure=watched)
    run_id = create_flow_run_in_prefect(payload, f"{name}-run")["id"]
    set_state_in_prefect(run_id, "RUNNING", "Running", force=True)
    set_state_in_prefect(run_id, state_type, state_type.title(), force=True)
    return run_id


def mirrored_by_the_listener(run_id: str) -> None:
    listener.apply_flow_run_events([{"flow_run_id": run_id}])


@pytest.mark.parametrize("state_type", ["FAILED", "CRASHED"])
def test_a_failure_the_listener_mirrors_raises_an_alert_naming_the_run_at_once(state_type):
    run_id = run_in_state(state_type)
    mirrored_by_the_listener(run_id)
    alert = Alert.objects.get(subject=f"run:{run_id}")
    assert alert.flow_run.prefect_id.hex == run_id.replace("-", "")
    assert alert.severity == "critical" and alert.flow_run.name in alert.message

    mirrored_by_the_listener(run_id)  # the same run again (a later event, the beat scan): still one alert
    assert Alert.objects.filter(subject=f"run:{run_id}").count() == 1


def test_no_alert_for_a_completed_run_an_unwatched_deployment_or_with_monitoring_off():
    completed, unwatched = run_in_state("COMPLETED"), run_in_state("FAILED", watched=False)
    mirrored_by_the_listener(completed)
    mirrored_by_the_listener(unwatched)
    config = current_config()
    config.monitoring_enabled = False
    config.save()
    switched_off = run_in_state("FAILED")
    mirrored_by_the_listener(switched_off)
    assert not Alert.objects.exists()
