"""Every role x every run operation through the service API: allowed or refused, and exactly one audit event per
operated item (refusals included). Allowed operations really happen in Prefect; refused ones leave it untouched."""

from __future__ import annotations

import time

import pytest
from django.contrib.auth.models import AnonymousUser

from controlplane.audit.actor import Actor
from controlplane.audit.models import AuditEvent
from controlplane.exceptions import PermissionDeniedError
from flows.serve import ETL_DEPLOYMENT, HEALTH_CHECK_DEPLOYMENT
from tests.factories import UserFactory
from tests.workflows.real_runs import (
    OPERATING_ROLES,
    ROLES,
    cancel_leftover,
    failed_run,
    finished_run,
    manual_runs_of,
    slow_run,
    state_in_prefect,
    wait_for_run_count,
)
from workflows import bulk, prefect_api, services

pytestmark = [pytest.mark.prefect, pytest.mark.django_db]
ACTORS = [*ROLES, "anonymous"]


def _actor(role: str) -> Actor:
    user = AnonymousUser() if role == "anonymous" else UserFactory(role=role)
    return Actor(user=user, ip_address="192.0.2.10", user_agent="matrix")


def _new_events(since_id: int) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(id__gt=since_id).order_by("id"))


def _last_id() -> int:
    last = AuditEvent.objects.order_by("-id").first()
    return last.pk if last else 0


def _assert_events(since_id: int, action: str, outcome: str, count: int = 1) -> None:
    events = _new_events(since_id)
    assert [(e.action, e.outcome) for e in events] == [(action, outcome)] * count, [str(e) for e in events]


@pytest.mark.parametrize("role", ACTORS)
def test_trigger(role, deployments):
    etl, actor, mark = deployments[ETL_DEPLOYMENT], _actor(role), _last_id()
    before = manual_runs_of(etl)
    if role in OPERATING_ROLES:
        run = services.trigger_deployment(actor, etl, {"rows": 3})
        assert prefect_api.read_flow_run(run.prefect_id)["parameters"]["rows"] == 3
        _assert_events(mark, "flow_run.trigger", "success")
    else:
        with pytest.raises(PermissionDeniedError):
            services.trigger_deployment(actor, etl, {"rows": 3})
        assert manual_runs_of(etl) == before
        _assert_events(mark, "flow_run.trigger", "denied")


@pytest.mark.parametrize("role", ACTORS)
def test_cancel(role, deployments):
    run, actor = slow_run(deployments), _actor(role)
    mark = _last_id()
    try:
        if role in OPERATING_ROLES:
            services.cancel_run(actor, run)
            assert state_in_prefect(run) in {"CANCELLING", "CANCELLED"}
            _assert_events(mark, "flow_run.cancel", "success")
        else:
            with pytest.raises(PermissionDeniedError):
                services.cancel_run(actor, run)
            assert state_in_prefect(run) not in {"CANCELLING", "CANCELLED"}
            _assert_events(mark, "flow_run.cancel", "denied")
    finally:
        cancel_leftover(run)


@pytest.mark.parametrize("role", ACTORS)
def test_retry(role, deployments):
    run, actor = failed_run(deployments), _actor(role)
    mark = _last_id()
    if role in OPERATING_ROLES:
        services.retry_run(actor, run)
        assert wait_for_run_count(run, 2)["run_count"] == 2
        _assert_events(mark, "flow_run.retry", "success")
    else:
        with pytest.raises(PermissionDeniedError):
            services.retry_run(actor, run)
        assert prefect_api.read_flow_run(run.prefect_id)["run_count"] == 1
        _assert_events(mark, "flow_run.retry", "denied")


@pytest.mark.parametrize("role", ACTORS)
def test_bulk_trigger(role, deployments):
    items = [(deployments[ETL_DEPLOYMENT], {"rows": 2}), (deployments[HEALTH_CHECK_DEPLOYMENT], {})]
    actor, mark = _actor(role), _last_id()
    results = bulk.bulk_trigger(actor, items)
    allowed = role in OPERATING_ROLES
    assert [r.ok for r in results] == [allowed, allowed], [r.error for r in results]
    if allowed:
        assert all(prefect_api.read_flow_run(r.flow_run.prefect_id) for r in results)
    else:
        assert all("not allowed" in r.error for r in results)
    _assert_events(mark, "flow_run.trigger", "success" if allowed else "denied", count=2)


@pytest.mark.parametrize("role", ACTORS)
def test_bulk_cancel(role, deployments):
    runs, actor = [slow_run(deployments), slow_run(deployments)], _actor(role)
    mark = _last_id()
    try:
        results = bulk.bulk_cancel(actor, runs)
        allowed = role in OPERATING_ROLES
        assert [r.ok for r in results] == [allowed, allowed], [r.error for r in results]
        cancelled = [state_in_prefect(run) in {"CANCELLING", "CANCELLED"} for run in runs]
        assert cancelled == [allowed, allowed]
        _assert_events(mark, "flow_run.cancel", "success" if allowed else "denied", count=2)
    finally:
        for run in runs:
            cancel_leftover(run)


@pytest.mark.parametrize("role", ACTORS)
def test_read_logs(role, deployments):
    run, actor = finished_run(deployments), _actor(role)
    mark = _last_id()
    if role == "anonymous":
        with pytest.raises(PermissionDeniedError):
            services.read_run_logs(actor, run)
        _assert_events(mark, "flow_run.read_logs", "denied")
    else:
        logs = _logs_once_shipped(actor, run)
        assert {log["flow_run_id"] for log in logs} == {str(run.prefect_id)}
        assert _new_events(mark) == []  # reading is not audited


def _logs_once_shipped(actor: Actor, run, timeout: float = 60) -> list[dict]:
    """A finished run's logs (Prefect's log handler ships them in batches, so the last may trail the final state)."""
    deadline = time.monotonic() + timeout
    while not (logs := services.read_run_logs(actor, run)) and time.monotonic() < deadline:
        time.sleep(1)
    return logs


def test_token_actor_acts_with_its_users_permissions_and_is_named_in_the_audit(deployments):
    from controlplane.access.services import create_api_token

    operator = UserFactory(role="operator")
    token, _secret = create_api_token(Actor(user=operator), operator, "ci")
    mark = _last_id()
    run = services.trigger_deployment(Actor(user=operator, token=token), deployments[ETL_DEPLOYMENT], {"rows": 1})
    (event,) = _new_events(mark)
    assert (event.actor_user, event.actor_token, event.outcome) == (operator, token, "success")
    assert event.actor_label == f"{operator.username} (token:ci)"
    assert run.prefect_id
