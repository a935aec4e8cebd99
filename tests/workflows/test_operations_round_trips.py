"""Operations at Prefect's own speed: one kept Prefect client per process, and the fewest Prefect round trips that
keep each operation correct — against the session's real Prefect server."""

from __future__ import annotations

from typing import ClassVar

import pytest
from prefect.client.orchestration import SyncPrefectClient

from controlplane.audit.models import AuditEvent
from flows.serve import ETL_DEPLOYMENT
from tests.workflows.real_runs import mirrored_deployments
from workflows import prefect_api, services
from workflows.models import FlowRun, FlowRunStateChange, StateType

pytestmark = [pytest.mark.prefect, pytest.mark.django_db]


class CountingClient(SyncPrefectClient):
    """Prefect's own client, counting how often one is built."""

    built: ClassVar[int] = 0

    def __init__(self, *args: object, **kwargs: object) -> None:
        CountingClient.built += 1
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]


def test_twenty_operations_build_at_most_one_prefect_client(served_flows, operator, monkeypatch):
    etl = mirrored_deployments()[ETL_DEPLOYMENT]
    CountingClient.built = 0
    monkeypatch.setattr(prefect_api.client, "SyncPrefectClient", CountingClient)
    monkeypatch.setattr(prefect_api.client, "_kept_client", None)  # as in a freshly started (or forked) worker

    for _ in range(10):  # 10 triggers + 10 cancels, each outside any explicit session(), as a request makes them
        run = services.trigger_deployment(operator, etl, {"rows": 1, "sleep_seconds": 30})
        services.cancel_run(operator, run)

    assert CountingClient.built <= 1
    assert AuditEvent.objects.filter(outcome="success").count() == 20


def test_the_kept_client_belongs_to_the_process_that_built_it(prefect_server, monkeypatch):
    """A forked worker (another pid) never uses its parent's client: it builds its own on first use."""
    parent_client, _ = prefect_api._kept_session_client()
    monkeypatch.setattr(prefect_api.client.os, "getpid", lambda: -1)
    child_client, _ = prefect_api._kept_session_client()
    assert child_client is not parent_client
    assert prefect_api.check_health()


def test_cancel_is_one_set_state_and_the_mirror_takes_its_answer(idle_deployment, operator, prefect_requests):
    run = idle_deployment.run("RUNNING")
    prefect_requests.clear()

    cancelled = services.cancel_run(operator, run)

    assert prefect_requests == [("POST", f"/flow_runs/{run.prefect_id}/set_state")]
    in_prefect = prefect_api.read_flow_run(run.prefect_id)
    assert in_prefect["state_type"] == "CANCELLING"
    mirrored = FlowRun.objects.get(pk=run.pk)
    assert (mirrored.state_type, str(mirrored.prefect_state_id)) == (StateType.CANCELLING, in_prefect["state_id"])
    assert cancelled.state_type == StateType.CANCELLING
    change = FlowRunStateChange.objects.get(prefect_state_id=in_prefect["state_id"])
    assert (change.from_state_type, change.to_state_type) == (StateType.RUNNING, StateType.CANCELLING)
    event = AuditEvent.objects.get(action="flow_run.cancel")
    assert (event.outcome, event.before["state_type"], event.after["state_type"]) == (
        "success",
        "RUNNING",
        "CANCELLING",
    )


def test_cancelling_a_cancelling_run_again_adds_no_second_state(idle_deployment, operator):
    run = idle_deployment.run("RUNNING")
    services.cancel_run(operator, run)
    first_state = prefect_api.read_flow_run(run.prefect_id)["state_id"]

    again = services.cancel_run(operator, FlowRun.objects.get(pk=run.pk))

    assert again.state_type == StateType.CANCELLING
    assert prefect_api.read_flow_run(run.prefect_id)["state_id"] == first_state
    assert list(AuditEvent.objects.filter(action="flow_run.cancel").values_list("outcome", flat=True)) == [
        "success",
        "success",
    ]


def test_cancel_refused_by_prefect_rereads_the_run_and_says_why(idle_deployment, operator, prefect_requests):
    run = idle_deployment.run("SCHEDULED")
    prefect_api.set_flow_run_state(run.prefect_id, "COMPLETED", "Completed", force=True)  # the mirror is now stale
    prefect_requests.clear()

    with pytest.raises(services.OperationNotAllowed, match="already finished"):
        services.cancel_run(operator, run)

    assert [method for method, _ in prefect_requests[:2]] == ["POST", "GET"]  # set_state refused, then the re-read
    assert FlowRun.objects.get(pk=run.pk).state_type == StateType.COMPLETED
    assert AuditEvent.objects.get(action="flow_run.cancel").outcome == "denied"


def test_a_repeated_retry_answers_the_rescheduled_run_without_rescheduling_it_again(idle_deployment, operator):
    run = idle_deployment.run("FAILED")

    first = services.retry_run(operator, run)
    rescheduled = prefect_api.read_flow_run(run.prefect_id)
    second = services.retry_run(operator, FlowRun.objects.get(pk=run.pk))

    assert (rescheduled["state_type"], rescheduled["state_name"]) == ("SCHEDULED", "AwaitingRetry")
    assert first.pk == second.pk and second.state_name == "AwaitingRetry"
    assert prefect_api.read_flow_run(run.prefect_id)["state_id"] == rescheduled["state_id"]
    events = list(AuditEvent.objects.filter(action="flow_run.retry").order_by("id"))
    assert [event.outcome for event in events] == ["success", "success"]
    assert "Already rescheduled" in events[1].message


def test_trigger_retried_with_its_idempotency_key_creates_one_run(idle_deployment, operator):
    from workflows.models import Deployment

    deployment = Deployment.objects.select_related("flow", "work_pool").get(prefect_id=idle_deployment.payload["id"])

    first = services.trigger_deployment(operator, deployment, {}, idempotency_key="client-retry-1")
    second = services.trigger_deployment(operator, deployment, {}, idempotency_key="client-retry-1")

    assert first.prefect_id == second.prefect_id
    body = {"flow_runs": {"deployment_id": {"any_": [idle_deployment.payload["id"]]}}}
    assert prefect_api.count_flow_runs(body["flow_runs"]) == 1
    assert FlowRun.objects.filter(deployment=deployment).count() == 1


def test_a_trigger_is_one_prefect_call_and_a_bounded_number_of_queries(
    idle_deployment, operator, prefect_requests, django_assert_max_num_queries
):
    """The deployment the caller found (with its flow and work pool) is not looked up again; the configuration is
    read once; the run, its first state and the audit event are written in one transaction without savepoints."""
    from workflows.models import Deployment

    deployment = Deployment.objects.select_related("flow", "work_pool").get(prefect_id=idle_deployment.payload["id"])
    services.trigger_deployment(operator, deployment, {})  # the cap is applied to Prefect once, on the first
    prefect_requests.clear()

    with django_assert_max_num_queries(9) as captured:
        run = services.trigger_deployment(operator, deployment, {})

    assert prefect_requests == [("POST", f"/deployments/{deployment.prefect_id}/create_flow_run")]
    savepoints = [query for query in captured.captured_queries if query["sql"].startswith("SAVEPOINT")]
    assert len(savepoints) == 1  # the durable transaction itself, nested in the test's own: no savepoint inside it
    assert (run.flow_id, run.deployment_id, run.work_pool_id) == (
        deployment.flow_id,
        deployment.pk,
        deployment.work_pool_id,
    )
