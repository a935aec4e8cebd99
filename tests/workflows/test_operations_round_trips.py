"""Operations at Prefect's own speed: one kept Prefect client per process, and the fewest Prefect round trips that
keep each operation correct — against the session's real Prefect server."""

from __future__ import annotations

from typing import ClassVar

import pytest
from django.db import connection
from prefect.client.orchestration import SyncPrefectClient

from controlplane.audit.models import AuditEvent
from flows.serve import ETL_DEPLOYMENT
from tests.prefect_helpers import delete_flow_run_in_prefect
from tests.workflows.operation_runs import prefect_calls
from tests.workflows.real_runs import mirrored_deployments
from workflows import bulk, prefect_api, services
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

    assert prefect_calls(prefect_requests) == [("POST", f"/flow_runs/{run.prefect_id}/set_state")]
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

    # set_state refused, then the re-read
    assert [method for method, _ in prefect_calls(prefect_requests)[:2]] == ["POST", "GET"]
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

    # The configuration; the run's existing row read, the run and its first state written; the audit chain's head
    # read and the event written; the test's own savepoint and its release. On PostgreSQL the mirror upsert and the
    # chain append each take an advisory lock as well (SQLite's write lock serialises them by itself).
    statements = 10 if connection.vendor == "postgresql" else 8
    with django_assert_max_num_queries(statements) as captured:
        run = services.trigger_deployment(operator, deployment, {})

    assert prefect_calls(prefect_requests) == [("POST", f"/deployments/{deployment.prefect_id}/create_flow_run")]
    savepoints = [query for query in captured.captured_queries if query["sql"].startswith("SAVEPOINT")]
    assert len(savepoints) == 1  # the durable transaction itself, nested in the test's own: no savepoint inside it
    assert (run.flow_id, run.deployment_id, run.work_pool_id) == (
        deployment.flow_id,
        deployment.pk,
        deployment.work_pool_id,
    )


def test_a_bulk_cancel_is_one_bulk_set_state_per_batch_and_one_read_of_what_prefect_refused(
    idle_deployment, operator, prefect_requests
):
    running = [idle_deployment.run("RUNNING") for _ in range(3)]
    scheduled, finished, deleted = (idle_deployment.run(state) for state in ("SCHEDULED", "COMPLETED", "RUNNING"))
    delete_flow_run_in_prefect(str(deleted.prefect_id))  # the mirror does not know yet
    prefect_requests.clear()

    results = bulk.bulk_cancel(operator, [*running, scheduled, finished, deleted])

    assert prefect_calls(prefect_requests) == [("POST", "/flow_runs/bulk_set_state"), ("POST", "/flow_runs/filter")]
    assert [result.ok for result in results] == [True, True, True, True, False, False]
    assert [result.flow_run.state_type for result in results[:4]] == [StateType.CANCELLING] * 3 + [StateType.CANCELLED]
    assert "already finished" in results[4].error and "Not found in Prefect" in results[5].error
    assert FlowRun.objects.get(pk=finished.pk).state_type == StateType.COMPLETED  # the stale row, refreshed
    assert {
        run["id"]: run["state_type"] for run in prefect_api.read_flow_runs_by_id([r.prefect_id for r in running])
    } == {str(run.prefect_id): "CANCELLING" for run in running}
    outcomes = dict(AuditEvent.objects.filter(action="flow_run.cancel").values_list("target_id", "outcome"))
    assert outcomes == {
        **{str(run.prefect_id): "success" for run in [*running, scheduled]},
        str(finished.prefect_id): "denied",
        str(deleted.prefect_id): "error",
    }


def test_a_bulk_cancel_repeated_adds_no_second_cancelling_state(idle_deployment, operator):
    runs = [idle_deployment.run("RUNNING") for _ in range(2)]
    services.cancel_run(operator, runs[0])  # one of them cancelled on its own first

    bulk.bulk_cancel(operator, [FlowRun.objects.get(pk=run.pk) for run in runs])
    again = bulk.bulk_cancel(operator, [FlowRun.objects.get(pk=run.pk) for run in runs])

    assert [result.ok for result in again] == [True, True]
    for run in runs:
        states = [state["type"] for state in prefect_api.read_flow_run_states(run.prefect_id)]
        assert states.count("CANCELLING") == 1
