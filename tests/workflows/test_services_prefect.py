"""The run operations against a real Prefect server executing the served flows of `flows/`."""

from __future__ import annotations

import time
import uuid

import pytest

from controlplane.audit.actor import Actor
from controlplane.audit.models import AuditEvent
from controlplane.exceptions import InvalidInput, OperationNotAllowed, PermissionDeniedError, UpstreamUnavailable
from flows.serve import ETL_DEPLOYMENT, HEALTH_CHECK_DEPLOYMENT
from tests.factories import UserFactory
from tests.prefect_helpers import (
    FINAL_STATE_TYPES,
    serve_etl_deployment,
    wait_for_run,
    wait_for_state,
    wait_until_final,
)
from tests.workflows.real_runs import manual_runs_of, mirrored_deployment
from workflows import bulk, prefect_api, services
from workflows.models import Deployment, FlowRun, OrchestrationConfig, StateType

pytestmark = [pytest.mark.prefect, pytest.mark.django_db]


@pytest.fixture
def etl(deployments) -> Deployment:
    return deployments[ETL_DEPLOYMENT]


@pytest.fixture
def operator() -> Actor:
    return Actor(user=UserFactory(role="operator"), ip_address="10.0.0.7", user_agent="pytest")


def _only_event() -> AuditEvent:
    events = list(AuditEvent.objects.all())
    assert len(events) == 1, [str(e) for e in events]
    return events[0]


# --- Trigger ------------------------------------------------------------------------------------------------------


def test_operator_triggers_run_with_parameters_into_prefect_and_mirror(etl, operator):
    run = services.trigger_deployment(operator, etl, {"rows": 7, "batch_size": 3})

    in_prefect = prefect_api.read_flow_run(run.prefect_id)
    assert in_prefect["parameters"] == {"rows": 7, "batch_size": 3}
    assert in_prefect["deployment_id"] == str(etl.prefect_id)
    mirrored = FlowRun.objects.get(prefect_id=run.prefect_id)
    assert mirrored.deployment == etl and mirrored.parameters == {"rows": 7, "batch_size": 3}
    event = _only_event()
    assert (event.action, event.outcome, event.actor_user, event.ip_address) == (
        "flow_run.trigger",
        "success",
        operator.user,
        "10.0.0.7",
    )
    assert event.after["flow_run"] == str(run.prefect_id)
    assert wait_until_final(str(run.prefect_id))["state_type"] == "COMPLETED"


def test_invalid_parameters_give_per_field_errors_and_create_nothing(etl, operator):
    before = manual_runs_of(etl)
    with pytest.raises(InvalidInput) as excinfo:
        services.trigger_deployment(operator, etl, {"rows": "many", "batch_size": 2.5, "colour": "red"})

    assert set(excinfo.value.field_errors) == {"rows", "batch_size", "colour"}
    assert "is not of type 'integer'" in excinfo.value.field_errors["rows"][0]
    assert manual_runs_of(etl) == before
    assert not FlowRun.objects.filter(deployment=etl).exists()
    event = _only_event()
    assert (event.outcome, event.action) == ("error", "flow_run.trigger")
    assert set(event.after["field_errors"]) == {"rows", "batch_size", "colour"}


def test_viewer_cannot_trigger_and_the_refusal_is_audited(etl):
    viewer = Actor(user=UserFactory(role="viewer"))
    before = manual_runs_of(etl)
    with pytest.raises(PermissionDeniedError):
        services.trigger_deployment(viewer, etl, {"rows": 1})
    assert manual_runs_of(etl) == before
    assert _only_event().outcome == "denied"


def test_same_idempotency_key_returns_the_same_run(etl, operator):
    first = services.trigger_deployment(operator, etl, {"rows": 1}, idempotency_key="form-123")
    second = services.trigger_deployment(operator, etl, {"rows": 1}, idempotency_key="form-123")
    assert first.prefect_id == second.prefect_id
    assert FlowRun.objects.filter(prefect_id=first.prefect_id).count() == 1


def test_deployment_the_mirror_knows_paused_is_refused_without_creating_a_run(etl, operator):
    prefect_api.set_deployment_paused(etl.prefect_id, True)
    Deployment.objects.filter(pk=etl.pk).update(paused=True)
    etl.refresh_from_db()
    try:
        before = manual_runs_of(etl)
        with pytest.raises(OperationNotAllowed, match="paused"):
            services.trigger_deployment(operator, etl, {"rows": 1})
        assert manual_runs_of(etl) == before
    finally:
        prefect_api.set_deployment_paused(etl.prefect_id, False)
    # Resumed in Prefect, still paused in the mirror: the trigger asks Prefect and goes ahead.
    run = services.trigger_deployment(operator, etl, {"rows": 1})
    assert prefect_api.read_flow_run(run.prefect_id)["deployment_id"] == str(etl.prefect_id)
    assert not Deployment.objects.get(pk=etl.pk).paused


def test_trigger_sets_prefects_deployment_concurrency_limit_to_the_configured_cap(etl, operator):
    config = OrchestrationConfig.load()
    config.max_concurrent_runs = 3
    config.save()
    services.trigger_deployment(operator, etl, {"rows": 1})
    assert services.deployment_concurrency_limit(prefect_api.read_deployment(etl.prefect_id)) == 3
    etl.refresh_from_db()
    assert etl.concurrency_limit == 3


def test_prefect_down_is_a_clear_error_and_audited(etl, operator, settings):
    from controlplane.devstack.processes import free_port

    settings.PREFECT_API_URL = f"http://127.0.0.1:{free_port()}/api"
    with pytest.raises(UpstreamUnavailable, match="unreachable"):
        services.trigger_deployment(operator, etl, {"rows": 1})
    assert _only_event().outcome == "error"


# --- Cancel -------------------------------------------------------------------------------------------------------


def test_cancel_of_a_running_run_reaches_cancelled_in_prefect(etl, operator):
    run = services.trigger_deployment(operator, etl, {"rows": 1, "sleep_seconds": 60})
    wait_for_state(run.prefect_id, {"RUNNING"})

    cancelled = services.cancel_run(operator, run)

    assert cancelled.state_type in {StateType.CANCELLING, StateType.CANCELLED}
    assert prefect_api.read_flow_run(run.prefect_id)["state_type"] in {"CANCELLING", "CANCELLED"}
    assert wait_until_final(str(run.prefect_id), timeout=60)["state_type"] == "CANCELLED"
    cancel_event = AuditEvent.objects.get(action="flow_run.cancel")
    # `before` is the mirror's last known state (no read of Prefect before the cancel): here, as triggered.
    assert cancel_event.before["state_type"] == "SCHEDULED"
    assert cancel_event.after["state_type"] in {"CANCELLING", "CANCELLED"}
    assert cancel_event.outcome == "success"


def test_cancel_of_a_finished_run_says_already_finished(deployments, operator):
    run = services.trigger_deployment(operator, deployments[HEALTH_CHECK_DEPLOYMENT], {})
    wait_until_final(str(run.prefect_id))

    with pytest.raises(OperationNotAllowed, match="already finished"):
        services.cancel_run(operator, run)
    run.refresh_from_db()
    assert run.state_type == StateType.COMPLETED  # the stale mirror row was refreshed
    assert AuditEvent.objects.get(action="flow_run.cancel").outcome == "denied"


# --- Retry --------------------------------------------------------------------------------------------------------


def test_retry_of_a_failed_run_runs_it_again(etl, operator):
    run = services.trigger_deployment(operator, etl, {"rows": -1})
    assert wait_until_final(str(run.prefect_id))["state_type"] == "FAILED"

    retried = services.retry_run(operator, run)

    assert retried.state_type in {StateType.SCHEDULED, StateType.PENDING, StateType.RUNNING, StateType.FAILED}
    again = wait_for_run(
        run.prefect_id,
        lambda run: run["run_count"] >= 2 and run["state_type"] in FINAL_STATE_TYPES,
        "a second run to finish",
    )
    assert again["state_type"] == "FAILED"  # same parameters, same failure: but it did run a second time
    assert AuditEvent.objects.get(action="flow_run.retry").outcome == "success"


def test_a_triggered_run_carries_the_configured_retries_and_prefect_retries_it(etl, operator):
    OrchestrationConfig.objects.filter(pk=1).update(retry_attempts=1)
    run = services.trigger_deployment(operator, etl, {"rows": -1})

    final = wait_for_run(
        run.prefect_id, lambda r: r["state_type"] in FINAL_STATE_TYPES and r["run_count"] >= 2, "a retried failure"
    )
    assert (final["state_type"], final["run_count"]) == ("FAILED", 2)  # the first run and one retry, no more
    assert final["empirical_policy"]["retries"] == 1
    assert "AwaitingRetry" in {state["name"] for state in prefect_api.read_flow_run_states(run.prefect_id)}


def test_retry_of_a_completed_run_is_refused(deployments, operator):
    run = services.trigger_deployment(operator, deployments[HEALTH_CHECK_DEPLOYMENT], {})
    wait_until_final(str(run.prefect_id))
    with pytest.raises(OperationNotAllowed, match="only failed, crashed or cancelled"):
        services.retry_run(operator, run)
    assert AuditEvent.objects.get(action="flow_run.retry").outcome == "denied"


# --- Bulk ---------------------------------------------------------------------------------------------------------


def test_bulk_cancel_reports_each_item_and_one_failure_does_not_stop_the_rest(deployments, operator):
    finished = services.trigger_deployment(operator, deployments[HEALTH_CHECK_DEPLOYMENT], {})
    wait_until_final(str(finished.prefect_id))
    slow = services.trigger_deployment(operator, deployments[ETL_DEPLOYMENT], {"rows": 1, "sleep_seconds": 60})
    # Running, so the serve process that owns it stops it; a run nobody picked up yet can sit in Cancelling until
    # the runner's cancellation observer polls (it falls back to polling after a Prefect restart).
    wait_for_state(slow.prefect_id, {"RUNNING"})

    results = bulk.bulk_cancel(operator, [finished, slow])

    assert [r.ok for r in results] == [False, True]
    assert "already finished" in results[0].error
    assert results[1].flow_run.prefect_id == slow.prefect_id
    assert AuditEvent.objects.filter(action="flow_run.cancel").count() == 2
    assert wait_until_final(str(slow.prefect_id), timeout=90)["state_type"] == "CANCELLED"


def test_bulk_trigger_reports_each_item(etl, operator):
    results = bulk.bulk_trigger(operator, [(etl, {"rows": 2}), (etl, {"rows": "x"}), (etl, {"rows": 3})])
    assert [r.ok for r in results] == [True, False, True], [r.error for r in results]
    assert [r.target for r in results] == [etl, etl, etl]
    assert "rows" in results[1].error or results[1].error.startswith("Invalid parameters")
    assert AuditEvent.objects.filter(action="flow_run.trigger").count() == 3


# --- Logs ---------------------------------------------------------------------------------------------------------


def test_logs_are_read_live_from_prefect_in_pages(etl, operator):
    run = services.trigger_deployment(operator, etl, {"rows": 4})
    wait_until_final(str(run.prefect_id))
    viewer = Actor(user=UserFactory(role="viewer"))
    _wait_for_logs(viewer, run, "loaded 4.0 rows")
    events_before = AuditEvent.objects.count()

    first = services.read_run_logs(viewer, run, limit=1)
    rest = services.read_run_logs(viewer, run, after=first[-1]["timestamp"], limit=200)

    assert len(first) == 1
    assert rest and all(log["timestamp"] > first[0]["timestamp"] for log in rest)
    assert any("loaded 4.0 rows" in log["message"] for log in first + rest)
    assert AuditEvent.objects.count() == events_before  # reads are not audited


def _wait_for_logs(actor: Actor, run: FlowRun, text: str, timeout: float = 30) -> None:
    """The served process ships logs in batches, a moment after the run has finished."""
    deadline = time.monotonic() + timeout
    while not any(text in log["message"] for log in services.read_run_logs(actor, run)):
        assert time.monotonic() < deadline, f"no log containing {text!r} within {timeout}s"
        time.sleep(0.5)


def test_anonymous_cannot_read_logs(etl, operator):
    from django.contrib.auth.models import AnonymousUser

    run = services.trigger_deployment(operator, etl, {"rows": 1})
    with pytest.raises(PermissionDeniedError):
        services.read_run_logs(Actor(user=AnonymousUser()), run)


def test_prefect_enforces_the_cap_by_holding_runs_beyond_it(prefect_server, operator):
    """The cap is Prefect's own limit, not a count in Django: a second run waits for the first one's slot.

    The test serves a deployment of its own: runs of the shared deployment that earlier tests left behind (some
    across a Prefect restart, which forgets the slot leases) can hand a slot back to its limit when they end.
    """
    from workflows.configuration import update_config

    admin = Actor(user=UserFactory(role="admin"))
    name = f"cap-{uuid.uuid4().hex[:8]}"
    serving = serve_etl_deployment(prefect_server, name)
    update_config(admin, {"max_concurrent_runs": 1})
    first = second = None
    try:
        capped = mirrored_deployment(name)
        first = services.trigger_deployment(operator, capped, {"rows": 1, "sleep_seconds": 60})
        wait_for_state(first.prefect_id, {"RUNNING"})
        second = services.trigger_deployment(operator, capped, {"rows": 1})
        held = wait_for_run(
            second.prefect_id, lambda run: run["state_name"] == "AwaitingConcurrencySlot", "AwaitingConcurrencySlot", 60
        )
        assert held["state_type"] == "SCHEDULED"
        assert prefect_api.read_flow_run(first.prefect_id)["state_type"] == "RUNNING"
    finally:
        for run in filter(None, [first, second]):
            if prefect_api.read_flow_run(run.prefect_id)["state_type"] not in FINAL_STATE_TYPES:
                prefect_api.cancel_flow_run(run.prefect_id)
        update_config(admin, {"max_concurrent_runs": 5})
        serving.stop()
