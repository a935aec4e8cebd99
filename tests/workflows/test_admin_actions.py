"""Every role x every run operation through the admin (the real changelist actions and the Trigger form, posted
with the test client): allowed or refused, exactly one audit event per item, per-item results as messages."""

from __future__ import annotations

import time
import uuid
from typing import Any

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.messages import get_messages
from django.test import Client
from django.urls import reverse

from controlplane.audit.models import AuditEvent
from flows.serve import ETL_DEPLOYMENT, HEALTH_CHECK_DEPLOYMENT
from tests.factories import UserFactory
from tests.prefect_helpers import wait_until_final
from tests.workflows.real_runs import (
    OPERATING_ROLES,
    ROLES,
    cancel_leftover,
    failed_run,
    manual_runs_of,
    mirror,
    slow_run,
    state_in_prefect,
    wait_for_run_count,
)
from workflows import prefect_api
from workflows.models import Deployment, FlowRun

pytestmark = [pytest.mark.prefect, pytest.mark.django_db]
ACTORS = [*ROLES, "anonymous"]
RUNS_URL = "/admin/workflows/flowrun/"
DEPLOYMENTS_URL = "/admin/workflows/deployment/"


def _client(role: str) -> Client:
    client = Client()
    if role != "anonymous":
        client.force_login(UserFactory(role=role))
    return client


def _last_id() -> int:
    last = AuditEvent.objects.order_by("-id").first()
    return last.pk if last else 0


def _events_since(mark: int) -> list[tuple[str, str]]:
    return list(AuditEvent.objects.filter(id__gt=mark).order_by("id").values_list("action", "outcome"))


def _trigger_url(deployment: Deployment) -> str:
    return reverse("admin:workflows_deployment_trigger", args=[deployment.pk])


def _post_action(client: Client, url: str, action: str, objects: list[Any]) -> Any:
    data = {"action": action, ACTION_CHECKBOX_NAME: [str(obj.pk) for obj in objects], "index": "0"}
    return client.post(url, data)


def _messages(response: Any) -> list[str]:
    return [str(message) for message in get_messages(response.wsgi_request)]


def _assert_anonymous_sent_to_login(response: Any, mark: int) -> None:
    assert response.status_code == 302 and "/admin/login/" in response["Location"]
    assert _events_since(mark) == []


@pytest.mark.parametrize("role", ACTORS)
def test_trigger_form(role, deployments):
    etl, client = deployments[ETL_DEPLOYMENT], _client(role)
    before, mark = manual_runs_of(etl), _last_id()
    response = client.post(
        _trigger_url(etl), {"idempotency_key": f"test-{uuid.uuid4()}", "param_rows": "4", "param_multiplier": "2.5"}
    )
    if role == "anonymous":
        _assert_anonymous_sent_to_login(response, mark)
    elif role in OPERATING_ROLES:
        run = FlowRun.objects.get(deployment=etl)
        assert response.status_code == 302 and response["Location"].endswith(f"/flowrun/{run.pk}/change/")
        assert (
            prefect_api.read_flow_run(run.prefect_id)["parameters"] | {"rows": 4, "multiplier": 2.5}
            == (prefect_api.read_flow_run(run.prefect_id)["parameters"])
        )
        assert _events_since(mark) == [("flow_run.trigger", "success")]
    else:
        assert response.status_code == 403
        assert manual_runs_of(etl) == before
        assert _events_since(mark) == [("flow_run.trigger", "denied")]


@pytest.mark.parametrize("role", ACTORS)
def test_cancel_action(role, deployments):
    run, client = slow_run(deployments), _client(role)
    mark = _last_id()
    try:
        response = _post_action(client, RUNS_URL, "cancel_selected_runs", [run])
        if role == "anonymous":
            _assert_anonymous_sent_to_login(response, mark)
            return
        assert response.status_code == 302
        allowed = role in OPERATING_ROLES
        assert (state_in_prefect(run) in {"CANCELLING", "CANCELLED"}) is allowed
        assert _events_since(mark) == [("flow_run.cancel", "success" if allowed else "denied")]
        (message,) = _messages(response)
        assert ("Cancellation requested" in message) is allowed, message
    finally:
        cancel_leftover(run)


@pytest.mark.parametrize("role", ACTORS)
def test_retry_action(role, deployments):
    run, client = failed_run(deployments), _client(role)
    mark = _last_id()
    response = _post_action(client, RUNS_URL, "retry_selected_runs", [run])
    if role == "anonymous":
        _assert_anonymous_sent_to_login(response, mark)
        return
    assert response.status_code == 302
    if role in OPERATING_ROLES:
        assert wait_for_run_count(run, 2)["run_count"] == 2
        assert _events_since(mark) == [("flow_run.retry", "success")]
    else:
        assert prefect_api.read_flow_run(run.prefect_id)["run_count"] == 1
        assert _events_since(mark) == [("flow_run.retry", "denied")]


@pytest.mark.parametrize("role", ACTORS)
def test_bulk_trigger_action(role, deployments):
    selected = [deployments[HEALTH_CHECK_DEPLOYMENT], deployments[ETL_DEPLOYMENT]]
    client, mark = _client(role), _last_id()
    before = [manual_runs_of(d) for d in selected]
    response = _post_action(client, DEPLOYMENTS_URL, "trigger_selected_deployments", selected)
    if role == "anonymous":
        _assert_anonymous_sent_to_login(response, mark)
        return
    allowed = role in OPERATING_ROLES
    assert response.status_code == 302
    assert [manual_runs_of(d) for d in selected] == [n + (1 if allowed else 0) for n in before], _messages(response)
    assert _events_since(mark) == [("flow_run.trigger", "success" if allowed else "denied")] * 2
    assert len(_messages(response)) == 2


@pytest.mark.parametrize("role", ACTORS)
def test_bulk_cancel_action(role, deployments):
    runs, client = [slow_run(deployments), slow_run(deployments)], _client(role)
    mark = _last_id()
    try:
        response = _post_action(client, RUNS_URL, "cancel_selected_runs", runs)
        if role == "anonymous":
            _assert_anonymous_sent_to_login(response, mark)
            return
        allowed = role in OPERATING_ROLES
        assert [state_in_prefect(run) in {"CANCELLING", "CANCELLED"} for run in runs] == [allowed, allowed]
        assert _events_since(mark) == [("flow_run.cancel", "success" if allowed else "denied")] * 2
        assert len(_messages(response)) == 2
    finally:
        for run in runs:
            cancel_leftover(run)


def test_actions_are_offered_only_to_roles_that_may_use_them(deployments):
    for role, offered in [("viewer", False), ("auditor", False), ("operator", True), ("admin", True)]:
        page = _client(role).get(RUNS_URL).content.decode()
        assert ('value="cancel_selected_runs"' in page) is offered, role
        assert ('value="retry_selected_runs"' in page) is offered, role


def test_trigger_form_is_generated_from_the_parameter_schema(deployments):
    page = _client("operator").get(_trigger_url(deployments[ETL_DEPLOYMENT])).content.decode()
    for parameter in ("rows", "batch_size", "multiplier", "seed", "transient_failures", "sleep_seconds"):
        assert f'name="param_{parameter}"' in page, parameter
    assert 'name="idempotency_key"' in page


def test_invalid_parameters_in_the_form_show_per_field_errors_and_create_nothing(deployments):
    etl, client = deployments[ETL_DEPLOYMENT], _client("operator")
    before, mark = manual_runs_of(etl), _last_id()
    response = client.post(_trigger_url(etl), {"idempotency_key": "k-invalid", "param_rows": "lots"})
    assert response.status_code == 200
    assert "is not of type &#x27;integer&#x27;" in response.content.decode()
    assert response.context["form"].errors["param_rows"]
    assert manual_runs_of(etl) == before
    assert _events_since(mark) == [("flow_run.trigger", "error")]


def test_resubmitting_the_trigger_form_does_not_create_a_second_run(deployments):
    etl, client = deployments[ETL_DEPLOYMENT], _client("operator")
    form = {"idempotency_key": f"k-{uuid.uuid4()}", "param_rows": "1"}
    first = client.post(_trigger_url(etl), form)
    second = client.post(_trigger_url(etl), form)
    assert first["Location"] == second["Location"]
    assert FlowRun.objects.filter(deployment=etl).count() == 1


def test_run_page_offers_cancel_or_retry_only_when_the_role_and_state_allow(deployments):
    slow, failed = slow_run(deployments), failed_run(deployments)
    try:
        operator, viewer = _client("operator"), _client("viewer")
        slow_page = operator.get(f"{RUNS_URL}{slow.pk}/change/").content.decode()
        failed_page = operator.get(f"{RUNS_URL}{failed.pk}/change/").content.decode()
        assert 'id="cancel-run"' in slow_page and 'id="retry-run"' not in slow_page
        assert 'id="retry-run"' in failed_page and 'id="cancel-run"' not in failed_page
        assert 'id="cancel-run"' not in viewer.get(f"{RUNS_URL}{slow.pk}/change/").content.decode()
    finally:
        cancel_leftover(slow)


def test_logs_page_shows_the_runs_log_lines_live_from_prefect(deployments):
    run_id = prefect_api.create_flow_run_from_deployment(deployments[ETL_DEPLOYMENT].prefect_id, {"rows": 6})["id"]
    wait_until_final(run_id)
    run = mirror(run_id)
    client = _client("viewer")
    url = reverse("admin:workflows_flowrun_logs", args=[run.pk])
    deadline = time.monotonic() + 30
    while "loaded 6.0 rows" not in (page := client.get(url).content.decode()):
        assert time.monotonic() < deadline, "log lines did not reach Prefect"
        time.sleep(0.5)
    newer = client.get(url, {"after": "2999-01-01T00:00:00+00:00"}).content.decode()
    assert "No newer log lines yet." in newer
    assert "loaded 6.0 rows" in page
