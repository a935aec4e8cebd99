"""Mutations against the real Prefect test server and the served flows: each calls its service, refusals come back
as typed payloads (with field errors) and are audited."""

from __future__ import annotations

import time

import pytest

from controlplane.audit.models import AuditEvent, AuditOutcome
from flows.serve import ETL_DEPLOYMENT, HEALTH_CHECK_DEPLOYMENT
from tests.graphql_client import client_for, graphql_data, post_graphql
from tests.prefect_helpers import TEST_CONFIG, wait_until_final
from workflows.models import Deployment, FlowRun, OrchestrationConfig
from workflows.references import sync_reference_data

pytestmark = [pytest.mark.prefect, pytest.mark.django_db]

RESULT_FIELDS = """
  __typename
  ... on FlowRun { id prefectId name stateType parameters deployment { fullName } }
  ... on OperationInfo { messages { kind message field code } }
"""
TRIGGER = f"""
mutation Trigger($name: String, $deploymentId: ID, $parameters: JSON, $key: String) {{
  triggerDeployment(name: $name, deploymentId: $deploymentId, parameters: $parameters, idempotencyKey: $key) {{
    {RESULT_FIELDS}
  }}
}}
"""
CANCEL = f"mutation Cancel($id: ID!) {{ cancelFlowRun(id: $id) {{ {RESULT_FIELDS} }} }}"
RETRY = f"mutation Retry($id: ID!) {{ retryFlowRun(id: $id) {{ {RESULT_FIELDS} }} }}"


@pytest.fixture
def mirrored(served_flows) -> dict[str, Deployment]:
    OrchestrationConfig.objects.update_or_create(pk=1, defaults=TEST_CONFIG)
    sync_reference_data()
    return {name: Deployment.objects.get(name=name) for name in (HEALTH_CHECK_DEPLOYMENT, ETL_DEPLOYMENT)}


def trigger(client, **variables) -> dict:
    return graphql_data(client, TRIGGER, variables)["triggerDeployment"]


def test_operator_triggers_by_name_and_reads_the_run_back(mirrored, operator_client):
    deployment = mirrored[ETL_DEPLOYMENT]
    run = trigger(operator_client, name=deployment.full_name, parameters={"rows": 12})
    assert run["__typename"] == "FlowRun", run
    assert run["deployment"]["fullName"] == deployment.full_name
    assert run["parameters"]["rows"] == 12

    read_back = graphql_data(
        operator_client, "query Run($id: ID!) { flowRun(id: $id) { prefectId name } }", {"id": run["prefectId"]}
    )["flowRun"]
    assert read_back == {"prefectId": run["prefectId"], "name": run["name"]}
    assert AuditEvent.objects.filter(action="flow_run.trigger", outcome=AuditOutcome.SUCCESS).exists()


def test_trigger_by_deployment_id_with_idempotency_key_returns_the_same_run(mirrored, operator_client):
    deployment_id = str(mirrored[HEALTH_CHECK_DEPLOYMENT].prefect_id)
    first = trigger(operator_client, deploymentId=deployment_id, key="nightly-2026-11-23")
    again = trigger(operator_client, deploymentId=deployment_id, key="nightly-2026-11-23")
    assert first["__typename"] == again["__typename"] == "FlowRun"
    assert first["prefectId"] == again["prefectId"]
    assert FlowRun.objects.filter(prefect_id=first["prefectId"]).count() == 1


def test_invalid_parameters_come_back_as_field_errors(mirrored, operator_client):
    result = trigger(operator_client, name=mirrored[ETL_DEPLOYMENT].full_name, parameters={"rows": "many"})
    assert result["__typename"] == "OperationInfo"
    kinds_by_field = {message["field"]: message["kind"] for message in result["messages"]}
    assert kinds_by_field.get("rows") == "VALIDATION", result
    assert result["messages"][0]["code"] == "InvalidInput"


def test_unknown_deployment_is_a_validation_payload(mirrored, operator_client):
    result = trigger(operator_client, name="no-such-flow/no-such-deployment")
    assert result["__typename"] == "OperationInfo"
    assert result["messages"][0]["field"] == "name"


def test_viewer_is_refused_every_mutation_with_a_permission_payload_that_is_audited(mirrored, viewer_client):
    result = trigger(viewer_client, name=mirrored[HEALTH_CHECK_DEPLOYMENT].full_name)
    assert result["__typename"] == "OperationInfo"
    assert result["messages"][0]["kind"] == "PERMISSION"
    assert not FlowRun.objects.exists()
    denied = AuditEvent.objects.get(action="graphql.triggerDeployment")
    assert denied.outcome == AuditOutcome.DENIED
    assert denied.actor_label.startswith("user")

    run_id = "4b0c1b57-2d3e-4d7a-9a55-5f6a1d8f0000"
    others = {
        "cancelFlowRun": f'cancelFlowRun(id: "{run_id}")',
        "retryFlowRun": f'retryFlowRun(id: "{run_id}")',
        "bulkTrigger": f'bulkTrigger(items: [{{name: "{mirrored[ETL_DEPLOYMENT].full_name}"}}])',
        "bulkCancel": f'bulkCancel(ids: ["{run_id}"])',
        "updateConfig": "updateConfig(changes: {retryAttempts: 1})",
    }
    for field, call in others.items():
        data = graphql_data(
            viewer_client, f"mutation {{ {call} {{ ... on OperationInfo {{ messages {{ kind }} }} }} }}"
        )
        assert data[field] == {"messages": [{"kind": "PERMISSION"}]}, field
        assert AuditEvent.objects.filter(action=f"graphql.{field}", outcome=AuditOutcome.DENIED).exists(), field


def test_cancel_of_a_finished_run_is_refused_with_an_error_payload(mirrored, operator_client):
    run = trigger(operator_client, name=mirrored[HEALTH_CHECK_DEPLOYMENT].full_name)
    assert wait_until_final(run["prefectId"])["state_type"] == "COMPLETED"
    result = graphql_data(operator_client, CANCEL, {"id": run["prefectId"]})["cancelFlowRun"]
    assert result["__typename"] == "OperationInfo"
    assert result["messages"][0]["code"] == "OperationNotAllowed"
    assert "already finished" in result["messages"][0]["message"]


def test_retry_of_a_failed_run_reschedules_it(mirrored, operator_client):
    # More transient failures than the extract task retries: the flow fails at once, by design.
    run = trigger(operator_client, name=mirrored[ETL_DEPLOYMENT].full_name, parameters={"transient_failures": 99})
    assert wait_until_final(run["prefectId"])["state_type"] == "FAILED"
    retried = graphql_data(operator_client, RETRY, {"id": run["id"]})["retryFlowRun"]
    assert retried["__typename"] == "FlowRun", retried
    assert retried["stateType"] in {"SCHEDULED", "PENDING", "RUNNING", "FAILED"}
    assert AuditEvent.objects.filter(action="flow_run.retry", outcome=AuditOutcome.SUCCESS).exists()


def test_bulk_trigger_and_bulk_cancel_report_each_item(mirrored, operator_client):
    etl = mirrored[ETL_DEPLOYMENT].full_name
    bulk_trigger = """mutation Bulk($items: [TriggerItem!]!) { bulkTrigger(items: $items) {
        ... on BulkResult { succeeded failed items { target ok error flowRun { prefectId } } } } }"""
    items = [
        {"name": etl, "parameters": {"rows": 5}},
        {"name": "nobody/nothing"},
        {"name": etl, "parameters": {"rows": "x"}},
    ]
    result = graphql_data(operator_client, bulk_trigger, {"items": items})["bulkTrigger"]
    assert (result["succeeded"], result["failed"]) == (1, 2)
    assert [item["ok"] for item in result["items"]] == [True, False, False]
    created = result["items"][0]["flowRun"]["prefectId"]

    missing = "4b0c1b57-2d3e-4d7a-9a55-5f6a1d8f0000"
    bulk_cancel = (
        "mutation Cancel($ids: [ID!]!) { bulkCancel(ids: $ids) { ... on BulkResult { items { target ok error } } } }"
    )
    items = graphql_data(operator_client, bulk_cancel, {"ids": [created, missing]})["bulkCancel"]["items"]
    assert items[1] == {"target": missing, "ok": False, "error": f"No flow run with id {missing}."}
    # Prefect may accept the cancel or refuse it (a run not yet picked up has "no infrastructure to terminate");
    # either way the item reports it, with the reason when refused.
    assert items[0]["target"] == created
    assert items[0]["ok"] or items[0]["error"].startswith("Prefect did not cancel run")


def test_admin_updates_config_and_invalid_values_are_field_errors(mirrored):
    admin = client_for("admin")
    mutation = """mutation Update($changes: ConfigChanges!) { updateConfig(changes: $changes) {
        __typename ... on OrchestrationConfig { retryAttempts } ... on OperationInfo { messages { kind field } } } }"""
    updated = graphql_data(admin, mutation, {"changes": {"retryAttempts": 7}})["updateConfig"]
    assert updated == {"__typename": "OrchestrationConfig", "retryAttempts": 7}
    refused = graphql_data(admin, mutation, {"changes": {"defaultTimeoutSeconds": 0}})["updateConfig"]
    assert {"kind": "VALIDATION", "field": "default_timeout_seconds"} in refused["messages"]


def test_run_logs_are_read_live_from_prefect_and_page_with_after(mirrored, operator_client):
    run = trigger(operator_client, name=mirrored[HEALTH_CHECK_DEPLOYMENT].full_name)
    assert wait_until_final(run["prefectId"])["state_type"] == "COMPLETED"
    query = """query Logs($id: ID!, $after: DateTime) { flowRun(id: $id) {
        logs(after: $after, limit: 200) { timestamp level message } } }"""
    logs = _wait_for_logs(operator_client, query, run["prefectId"])
    assert [log["timestamp"] for log in logs] == sorted(log["timestamp"] for log in logs)
    later = graphql_data(operator_client, query, {"id": run["prefectId"], "after": logs[0]["timestamp"]})
    later_logs = later["flowRun"]["logs"]
    # The last lines may still be arriving (logs are shipped in the background), so compare what both reads saw.
    assert later_logs[: len(logs) - 1] == logs[1:]
    assert all(log["timestamp"] > logs[0]["timestamp"] for log in later_logs)


def _wait_for_logs(client, query: str, flow_run_id: str, timeout: float = 30) -> list[dict]:
    """The served process ships a run's logs in batches, a moment after the run has finished."""
    deadline = time.monotonic() + timeout
    while not (logs := graphql_data(client, query, {"id": flow_run_id})["flowRun"]["logs"]):
        assert time.monotonic() < deadline, f"no logs for finished run {flow_run_id} within {timeout}s"
        time.sleep(0.5)
    return logs


def test_log_page_size_outside_the_allowed_range_is_a_clear_error(mirrored, operator_client):
    run = trigger(operator_client, name=mirrored[HEALTH_CHECK_DEPLOYMENT].full_name)
    payload = post_graphql(
        operator_client,
        "query Logs($id: ID!) { flowRun(id: $id) { logs(limit: 5000) { message } } }",
        {"id": run["prefectId"]},
    ).json()
    assert payload["errors"][0]["message"] == "limit must be between 1 and 200."
