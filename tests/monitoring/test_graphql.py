"""The monitoring part of the GraphQL API: every role reads health, samples, run health, alerts, thresholds and
channels (never a channel's URL or secret); acknowledge/resolve for operators and admins, threshold changes for
admins, each refusal a typed payload and an audit event; lists in a bounded number of queries."""

from __future__ import annotations

import pytest
from django.test import Client
from strawberry import relay

from controlplane.audit.models import AuditEvent
from monitoring.models import Alert, Threshold
from tests.factories import (
    AlertFactory,
    FlowRunFactory,
    NotificationChannelFactory,
    SystemSampleFactory,
)
from tests.graphql_client import client_for, graphql_data, graphql_errors, post_graphql

pytestmark = pytest.mark.django_db
ROLES = ("viewer", "operator", "admin", "auditor")

READ_ALL = """{
  systemHealth { score openCriticalAlerts components { component status } latestSamples { host cpuPercent } }
  components { component }
  metrics(metric: CPU_PERCENT, range: 3600) { host metric points { at value } }
  runHealth(window: 3600) { windowSeconds overall { runs failed failureRate } deployments { deployment runs } }
  alerts(first: 10, filter: {openOnly: true}) { totalCount edges { node { id subject severity status } } }
  thresholds { id name metric warningLevel criticalLevel }
  notificationChannels { name kind target hasSecret }
}"""


@pytest.mark.parametrize("role", ROLES)
def test_every_role_reads_monitoring(role):
    SystemSampleFactory(host="web-1", cpu_percent=12.0)
    FlowRunFactory(state_type="FAILED")
    AlertFactory(severity="critical")
    NotificationChannelFactory(kind="slack", target="https://hooks.slack.com/services/T0/B0/SECRETPATH", secret="x")
    data = graphql_data(client_for(role), READ_ALL)
    assert data["systemHealth"]["openCriticalAlerts"] == 1
    assert data["metrics"] == [{"host": "web-1", "metric": "cpu_percent", "points": [data["metrics"][0]["points"][0]]}]
    assert data["runHealth"]["overall"]["failureRate"] == 100.0
    assert data["alerts"]["totalCount"] == 1
    assert {t["name"] for t in data["thresholds"]} >= {"CPU", "Memory", "Disk"}
    [channel] = data["notificationChannels"]
    assert channel == {
        "name": channel["name"],
        "kind": "slack",
        "target": "https://hooks.slack.com/••••••••",
        "hasSecret": True,
    }


def test_anonymous_reads_nothing():
    assert graphql_errors(Client(), "{ alerts(first: 1) { totalCount } }")


def test_listing_alerts_takes_a_bounded_number_of_queries(django_assert_max_num_queries):
    for index in range(30):
        AlertFactory(subject=f"host:h{index}", flow_run=FlowRunFactory())
    client = client_for("viewer")
    query = "{ alerts(first: 30) { totalCount edges { node { subject acknowledgedBy flowRun { name } } } } }"
    with django_assert_max_num_queries(12):
        data = graphql_data(client, query)
    assert data["alerts"]["totalCount"] == 30


def _node_id(type_name: str, pk: int) -> str:
    return str(relay.GlobalID(type_name, str(pk)))


ACKNOWLEDGE = """mutation($id: ID!) { acknowledgeAlert(id: $id) {
  __typename ... on Alert { status acknowledgedBy } ... on OperationInfo { messages { kind message field } } } }"""
RESOLVE = """mutation($id: ID!) { resolveAlert(id: $id) {
  __typename ... on Alert { status } ... on OperationInfo { messages { kind message } } } }"""
UPDATE_THRESHOLD = """mutation($id: ID!, $changes: ThresholdChanges!) { updateThreshold(id: $id, changes: $changes) {
  __typename ... on Threshold { warningLevel } ... on OperationInfo { messages { kind message field } } } }"""


@pytest.mark.parametrize("role", [*ROLES, "anonymous"])
def test_acknowledge_and_resolve_over_graphql_follow_the_roles_and_are_audited(role):
    alert = AlertFactory()
    client = client_for(None if role == "anonymous" else role)
    allowed = role in ("operator", "admin")
    acknowledged = graphql_data(client, ACKNOWLEDGE, {"id": _node_id("Alert", alert.pk)})["acknowledgeAlert"]
    resolved = graphql_data(client, RESOLVE, {"id": str(alert.pk)})["resolveAlert"]
    if allowed:
        assert acknowledged["status"] == "acknowledged" and acknowledged["acknowledgedBy"]
        assert resolved == {"__typename": "Alert", "status": "resolved"}
        outcomes = set(AuditEvent.objects.filter(target_type="alert").values_list("action", "outcome"))
        assert outcomes == {("alert.acknowledge", "success"), ("alert.resolve", "success")}
    else:
        assert acknowledged["__typename"] == resolved["__typename"] == "OperationInfo"
        assert acknowledged["messages"][0]["kind"] == "PERMISSION"
        assert Alert.objects.get().status == "firing"
        denied = AuditEvent.objects.filter(outcome="denied").values_list("target_id", flat=True)
        assert set(denied) == {"acknowledgeAlert", "resolveAlert"}


@pytest.mark.parametrize("role", [*ROLES, "anonymous"])
def test_only_admins_update_thresholds_over_graphql(role):
    cpu = Threshold.objects.get(name="CPU")
    client = client_for(None if role == "anonymous" else role)
    result = graphql_data(
        client, UPDATE_THRESHOLD, {"id": _node_id("Threshold", cpu.pk), "changes": {"warningLevel": 70}}
    )
    if role == "admin":
        assert result["updateThreshold"] == {"__typename": "Threshold", "warningLevel": 70.0}
        assert AuditEvent.objects.get(action="threshold.update").after == {"warning_level": 70.0}
    else:
        assert result["updateThreshold"]["messages"][0]["kind"] == "PERMISSION"
        assert Threshold.objects.get(name="CPU").warning_level == 80
        assert AuditEvent.objects.get(outcome="denied").target_id == "updateThreshold"


def test_an_invalid_threshold_change_comes_back_with_field_messages():
    cpu = Threshold.objects.get(name="CPU")
    changes = {"warningLevel": 99, "forSeconds": -1}
    result = graphql_data(client_for("admin"), UPDATE_THRESHOLD, {"id": str(cpu.pk), "changes": changes})
    fields = {m["field"] for m in result["updateThreshold"]["messages"]}
    assert {"warning_level", "for_seconds"} <= fields


def test_create_threshold_and_test_a_channel_over_graphql(webhook_server):
    admin = client_for("admin")
    created = graphql_data(
        admin,
        """mutation { createThreshold(input: {name: "Load", metric: "load1", warningLevel: 4, criticalLevel: 8}) {
          __typename ... on Threshold { name metric } } }""",
    )
    assert created["createThreshold"] == {"__typename": "Threshold", "name": "Load", "metric": "load1"}
    channel = NotificationChannelFactory(target=webhook_server.url)
    tested = post_graphql(
        admin,
        """mutation($id: ID!) { testNotificationChannel(id: $id) {
          __typename ... on Delivery { status responseCode } } }""",
        {"id": str(channel.pk)},
    ).json()["data"]["testNotificationChannel"]
    assert tested == {"__typename": "Delivery", "status": "sent", "responseCode": 200}
    assert webhook_server.received[0].json()["test"] is True
    assert AuditEvent.objects.get(action="channel.test").outcome == "success"
