"""Read queries on the mirror: filters, ordering, relay paging, and the role each one needs."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from strawberry import relay

from controlplane.audit.actor import Actor
from controlplane.audit.chain import record_audit_event
from tests.factories import DeploymentFactory, FlowRunFactory, UserFactory, WorkPoolFactory
from tests.graphql_client import client_for, graphql_data, graphql_errors
from workflows.models import FlowRunStateChange, OrchestrationConfig, StateType, SyncStatus

pytestmark = pytest.mark.django_db

RUN_NAMES = """
query Runs($filter: FlowRunFilter, $orderBy: FlowRunOrder, $first: Int, $after: String) {
  flowRuns(filter: $filter, orderBy: $orderBy, first: $first, after: $after) {
    totalCount
    pageInfo { hasNextPage endCursor }
    edges { node { name } }
  }
}
"""


def run_names(client, **variables) -> list[str]:
    data = graphql_data(client, RUN_NAMES, variables)
    return [edge["node"]["name"] for edge in data["flowRuns"]["edges"]]


def test_viewer_reads_runs_with_flow_deployment_and_work_pool(viewer_client):
    run = FlowRunFactory(name="nightly-1", tags=["nightly"])
    query = """{ flowRuns(first: 5) { totalCount edges { node {
        name prefectId stateType isTerminal tags
        flow { name } deployment { name fullName parameterSchema } workPool { name }
    } } } }"""
    data = graphql_data(viewer_client, query)
    node = data["flowRuns"]["edges"][0]["node"]
    assert data["flowRuns"]["totalCount"] == 1
    assert node["prefectId"] == str(run.prefect_id)
    assert node["stateType"] == "COMPLETED"
    assert node["isTerminal"] is True
    assert node["tags"] == ["nightly"]
    assert node["flow"]["name"] == run.flow.name
    assert node["deployment"]["fullName"] == f"{run.flow.name}/{run.deployment.name}"
    assert node["deployment"]["parameterSchema"]["properties"]["rows"]["type"] == "integer"
    assert node["workPool"]["name"] == run.work_pool.name


def test_anonymous_gets_a_permission_error_on_runs(db):
    FlowRunFactory()
    assert graphql_errors(client_for(None), "{ flowRuns { totalCount } }") == [
        "You don't have permission to access this app."
    ]


def test_filter_by_state_types(viewer_client):
    FlowRunFactory(name="ok", state_type=StateType.COMPLETED)
    FlowRunFactory(name="bad", state_type=StateType.FAILED)
    FlowRunFactory(name="crash", state_type=StateType.CRASHED)
    names = run_names(viewer_client, filter={"stateTypes": ["FAILED", "CRASHED"]})
    assert sorted(names) == ["bad", "crash"]


def test_filter_by_flow_deployment_and_work_pool(viewer_client):
    wanted = FlowRunFactory(name="wanted")
    FlowRunFactory(name="other")
    flow, deployment = wanted.flow.name, wanted.deployment.name
    assert run_names(viewer_client, filter={"flowName": flow}) == ["wanted"]
    assert run_names(viewer_client, filter={"deploymentName": deployment}) == ["wanted"]
    assert run_names(viewer_client, filter={"deploymentName": f"{flow}/{deployment}"}) == ["wanted"]
    assert run_names(viewer_client, filter={"deploymentName": f"other-flow/{deployment}"}) == []
    assert run_names(viewer_client, filter={"workPoolName": wanted.work_pool.name}) == ["wanted"]


def test_filter_by_tag_matches_whole_tags_only(viewer_client):
    FlowRunFactory(name="tagged", tags=["etl", "nightly"])
    FlowRunFactory(name="prefix-only", tags=["etl-backfill"])
    FlowRunFactory(name="untagged", tags=[])
    assert run_names(viewer_client, filter={"tag": "etl"}) == ["tagged"]


def test_filter_by_name_search_is_case_insensitive(viewer_client):
    FlowRunFactory(name="Brave-Otter")
    FlowRunFactory(name="calm-heron")
    assert run_names(viewer_client, filter={"nameContains": "otter"}) == ["Brave-Otter"]


def test_filter_by_time_range_on_the_chosen_timestamp(viewer_client):
    now = timezone.now()
    FlowRunFactory(name="old", expected_start_time=now - timedelta(days=3))
    FlowRunFactory(name="recent", expected_start_time=now - timedelta(hours=1))
    FlowRunFactory(name="scheduled", expected_start_time=now + timedelta(hours=1), start_time=None, end_time=None)
    after = (now - timedelta(days=1)).isoformat()
    recent_window = {"field": "EXPECTED_START_TIME", "after": after, "before": now.isoformat()}
    assert run_names(viewer_client, filter={"timeRange": recent_window}) == ["recent"]
    started_after = {"field": "START_TIME", "after": after}
    assert run_names(viewer_client, filter={"timeRange": started_after}) == ["recent"]


def test_ordering_by_each_timestamp_in_both_directions(viewer_client):
    now = timezone.now()
    FlowRunFactory(name="a", expected_start_time=now - timedelta(hours=3), end_time=now - timedelta(minutes=1))
    FlowRunFactory(name="b", expected_start_time=now - timedelta(hours=2), end_time=now - timedelta(minutes=30))
    FlowRunFactory(name="c", expected_start_time=now - timedelta(hours=1), end_time=now - timedelta(minutes=10))
    assert run_names(viewer_client) == ["c", "b", "a"]  # default: newest expected start first
    assert run_names(viewer_client, orderBy={"field": "EXPECTED_START_TIME", "direction": "ASC"}) == ["a", "b", "c"]
    assert run_names(viewer_client, orderBy={"field": "START_TIME", "direction": "DESC"}) == ["c", "b", "a"]
    assert run_names(viewer_client, orderBy={"field": "END_TIME", "direction": "DESC"}) == ["a", "c", "b"]


def test_relay_paging_walks_every_run_once_in_order(viewer_client):
    start = timezone.now()
    for minute in range(7):
        # Two runs per timestamp: the id tie-break must keep pages disjoint.
        FlowRunFactory.create_batch(2, expected_start_time=start - timedelta(minutes=minute))
    seen: list[str] = []
    after = None
    while True:
        data = graphql_data(viewer_client, RUN_NAMES, {"first": 3, "after": after})["flowRuns"]
        assert data["totalCount"] == 14
        seen.extend(edge["node"]["name"] for edge in data["edges"])
        if not data["pageInfo"]["hasNextPage"]:
            break
        after = data["pageInfo"]["endCursor"]
    assert len(seen) == 14
    assert len(set(seen)) == 14


def test_flow_run_by_prefect_id_or_node_id_with_state_history(viewer_client):
    run = FlowRunFactory(name="traced")
    for at_offset, (from_type, to_type) in enumerate([("", "SCHEDULED"), ("SCHEDULED", "RUNNING")]):
        FlowRunStateChange.objects.create(
            flow_run=run,
            from_state_type=from_type,
            to_state_type=to_type,
            to_state_name=to_type.title(),
            at=run.expected_start_time + timedelta(seconds=at_offset),
        )
    query = """query Run($id: ID!) { flowRun(id: $id) { name id stateHistory { fromStateType toStateType } } }"""
    by_prefect_id = graphql_data(viewer_client, query, {"id": str(run.prefect_id)})["flowRun"]
    assert by_prefect_id["name"] == "traced"
    assert by_prefect_id["stateHistory"] == [
        {"fromStateType": None, "toStateType": "SCHEDULED"},
        {"fromStateType": "SCHEDULED", "toStateType": "RUNNING"},
    ]
    by_node_id = graphql_data(viewer_client, query, {"id": by_prefect_id["id"]})["flowRun"]
    assert by_node_id["name"] == "traced"


def test_flow_run_that_does_not_exist_is_null(viewer_client):
    query = "query Run($id: ID!) { flowRun(id: $id) { name } }"
    assert graphql_data(viewer_client, query, {"id": "4b0c1b57-2d3e-4d7a-9a55-5f6a1d8f0000"})["flowRun"] is None
    other_type = relay.to_base64("Flow", "1")
    assert graphql_data(viewer_client, query, {"id": other_type})["flowRun"] is None
    assert graphql_data(viewer_client, query, {"id": "garbage"})["flowRun"] is None


def test_deployments_flows_and_work_pools_hide_rows_deleted_in_prefect(viewer_client):
    live = DeploymentFactory(name="live")
    DeploymentFactory(name="gone", deleted_in_prefect=True)
    WorkPoolFactory(name="old-pool", deleted_in_prefect=True)
    query = """{ deployments { edges { node { name defaultParameters flow { name } } } }
                 flows { edges { node { name deployments { name } } } }
                 workPools { edges { node { name type } } } }"""
    data = graphql_data(viewer_client, query)
    assert [e["node"]["name"] for e in data["deployments"]["edges"]] == ["live"]
    assert live.flow.name in [e["node"]["name"] for e in data["flows"]["edges"]]
    pools = [e["node"]["name"] for e in data["workPools"]["edges"]]
    assert live.work_pool.name in pools
    assert "old-pool" not in pools
    with_deleted = graphql_data(viewer_client, "{ deployments(includeDeleted: true) { totalCount } }")
    assert with_deleted["deployments"]["totalCount"] == 2


def test_sync_status_and_config_are_readable_by_viewers(viewer_client):
    SyncStatus.objects.create(stream="flow_runs", last_rows_written=12, total_rows_written=340)
    OrchestrationConfig.objects.create(pk=1, max_concurrent_runs=9)
    data = graphql_data(viewer_client, "{ syncStatus { stream totalRowsWritten } config { maxConcurrentRuns } }")
    assert data["syncStatus"] == [{"stream": "flow_runs", "totalRowsWritten": 340}]
    assert data["config"]["maxConcurrentRuns"] == 9


def test_reading_config_before_anyone_saved_it_shows_defaults_without_writing(viewer_client):
    data = graphql_data(viewer_client, "{ config { maxConcurrentRuns retryAttempts } }")
    assert data["config"] == {"maxConcurrentRuns": 5, "retryAttempts": 3}
    assert not OrchestrationConfig.objects.exists()


def test_me_names_the_user_roles_and_permissions(operator_client):
    me = graphql_data(operator_client, "{ me { username roles permissions } }")["me"]
    assert me["roles"] == ["operator"]
    assert "workflows.trigger_run" in me["permissions"]
    assert "controlplane.view_auditevent" not in me["permissions"]


def test_me_is_null_for_anonymous(db):
    assert graphql_data(client_for(None), "{ me { username } }")["me"] is None


def test_viewer_gets_a_permission_error_on_audit_events(viewer_client):
    assert graphql_errors(viewer_client, "{ auditEvents { totalCount } }") == [
        "You don't have permission to access this app."
    ]


def _audit_event(username: str, action: str, outcome: str) -> None:
    actor = Actor.for_user(UserFactory(username=username))
    record_audit_event(actor, action, target_type="flow_run", target_id="r1", outcome=outcome)


@pytest.mark.parametrize("role", ["auditor", "admin"])
def test_auditors_and_admins_read_and_filter_audit_events(role):
    client = client_for(role)
    _audit_event("alice", "flow_run.trigger", "success")
    _audit_event("bob", "flow_run.trigger", "denied")
    _audit_event("alice", "flow_run.cancel", "success")
    query = """query Events($filter: AuditEventFilter) {
        auditEvents(first: 10, filter: $filter) { totalCount edges { node { actorLabel action outcome } } } }"""
    by_alice = graphql_data(client, query, {"filter": {"actor": "alice"}})["auditEvents"]
    assert by_alice["totalCount"] == 2
    assert [edge["node"]["action"] for edge in by_alice["edges"]] == ["flow_run.cancel", "flow_run.trigger"]
    alice_triggers = graphql_data(client, query, {"filter": {"actor": "alice", "action": "flow_run.trigger"}})
    assert alice_triggers["auditEvents"]["edges"] == [
        {"node": {"actorLabel": "alice", "action": "flow_run.trigger", "outcome": "success"}}
    ]
    denied = graphql_data(client, query, {"filter": {"outcome": "denied"}})["auditEvents"]
    assert [edge["node"]["actorLabel"] for edge in denied["edges"]] == ["bob"]


def test_json_values_the_fast_encoder_refuses_are_still_encoded(viewer_client):
    """Prefect parameters are arbitrary JSON: an integer beyond 64 bits (orjson refuses it) and unicode keys."""
    FlowRunFactory(parameters={"huge": 2**70, "ünïcode": ["✓", None, 1.5]})
    data = graphql_data(viewer_client, "{ flowRuns(first: 1) { edges { node { parameters } } } }")
    assert data["flowRuns"]["edges"][0]["node"]["parameters"] == {"huge": 2**70, "ünïcode": ["✓", None, 1.5]}
