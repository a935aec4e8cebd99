"""The flows in `flows/`, served by `python -m flows.serve` as in `make run`, executed by a real Prefect server."""

from __future__ import annotations

import pytest

from flows.serve import ETL_DEPLOYMENT, HEALTH_CHECK_DEPLOYMENT
from tests.prefect_helpers import deployment_id, served_deployments, wait_until_final
from workflows import prefect_api

pytestmark = pytest.mark.prefect


def test_served_health_check_run_reaches_completed(served_flows):
    created = prefect_api.create_flow_run_from_deployment(deployment_id(HEALTH_CHECK_DEPLOYMENT), {})
    run = wait_until_final(created["id"])
    assert run["state_type"] == "COMPLETED", run["state"]


def test_served_deployments_have_schedules(served_flows):
    deployments = {d["name"]: d for d in served_deployments()}
    for name in (HEALTH_CHECK_DEPLOYMENT, ETL_DEPLOYMENT):
        assert deployments[name]["schedules"], f"{name} is served without a schedule"
    etl_schema = deployments[ETL_DEPLOYMENT]["parameter_openapi_schema"]["properties"]
    assert etl_schema["rows"]["type"] == "integer"


def test_extract_task_fails_twice_then_succeeds_on_third_attempt(served_flows):
    created = prefect_api.create_flow_run_from_deployment(
        deployment_id(ETL_DEPLOYMENT), {"rows": 10, "batch_size": 4, "transient_failures": 2}
    )
    run = wait_until_final(created["id"])
    assert run["state_type"] == "COMPLETED", run["state"]

    task_runs = prefect_api._post("/task_runs/filter", {"flow_runs": {"id": {"any_": [created["id"]]}}})
    extract = next(t for t in task_runs if t["name"].startswith("extract"))
    assert extract["run_count"] == 3
    assert extract["state_type"] == "COMPLETED"
    states = [s["name"] for s in prefect_api._get(f"/task_run_states/?task_run_id={extract['id']}")]
    assert states.count("Retrying") + states.count("AwaitingRetry") >= 2, states


def test_parameters_are_validated_by_type_hints(served_flows):
    with pytest.raises(prefect_api.PrefectRejected):
        prefect_api.create_flow_run_from_deployment(deployment_id(ETL_DEPLOYMENT), {"rows": "many"})
