"""The gateway over HTTP: who gets in, what each role may do in Prefect, what is audited."""

from __future__ import annotations

import httpx
import pytest

from tests.gateway.helpers import cancelling_body, gateway_deployment, run_state, scheduled_run

pytestmark = pytest.mark.prefect


def test_anonymous_ui_is_sent_to_the_login_and_the_api_answers_401_json(gateway):
    ui = httpx.get(f"{gateway.url}/prefect/", follow_redirects=False)
    assert ui.status_code == 302
    assert ui.headers["location"].startswith("/admin/login/?next=/prefect/")
    api = httpx.post(f"{gateway.url}/prefect/api/flow_runs/filter", json={})
    assert api.status_code == 401
    assert api.json()["error"] == "unauthenticated"


def test_prefect_itself_answers_nobody_without_the_auth_string(prefect_server):
    assert httpx.post(f"{prefect_server.api_url}/flow_runs/filter", json={}).status_code == 401
    assert httpx.get(f"{prefect_server.api_url}/health").status_code == 200


def test_ui_settings_name_the_gateway_api_and_ask_for_no_password(gateway):
    viewer = gateway.as_role("viewer")
    settings = viewer.get("/prefect/ui-settings").json()
    assert settings["api_url"] == f"{gateway.url}/prefect/api"
    assert settings["auth"] is None
    page = viewer.get("/prefect/")
    assert page.status_code == 200 and "<html" in page.text.lower()
    assert gateway.as_role("viewer").cookies.get("sessionid")


def test_prefects_settings_are_readable_for_the_ui_without_its_secrets(gateway, prefect_server):
    answer = gateway.as_role("viewer").get("/prefect/api/admin/settings")
    assert answer.status_code == 200 and "server" in answer.json()
    assert prefect_server.auth_string.split(":", 1)[1] not in answer.text


def test_viewer_filters_and_reads_runs_and_reads_are_not_audited(gateway):
    deployment = gateway_deployment()
    run = scheduled_run(deployment["id"])
    viewer = gateway.as_role("viewer")
    found = viewer.post("/prefect/api/flow_runs/filter", json={"flow_runs": {"id": {"any_": [run["id"]]}}})
    assert found.status_code == 200 and [item["id"] for item in found.json()] == [run["id"]]
    assert viewer.get(f"/prefect/api/flow_runs/{run['id']}").json()["id"] == run["id"]
    assert viewer.post("/prefect/api/flow_runs/count", json={}).json() >= 1
    assert gateway.audit_events("prefect:POST /flow_runs/filter") == []


def test_viewer_cannot_cancel_a_run_nothing_changes_and_the_refusal_is_audited(gateway):
    run = scheduled_run(gateway_deployment()["id"])
    refused = gateway.as_role("viewer").post(f"/prefect/api/flow_runs/{run['id']}/set_state", json=cancelling_body())
    assert refused.status_code == 403
    assert "workflows.cancel_run" in refused.json()["detail"]
    assert run_state(run["id"]) == "SCHEDULED"
    [event] = [e for e in gateway.audit_events("prefect:POST /flow_runs/{id}/set_state") if e["target_id"] == run["id"]]
    assert (event["actor"], event["outcome"], event["after"]["status"]) == ("gw-viewer", "denied", 403)


def test_operator_cancels_a_run_and_the_audit_log_names_them(gateway):
    run = scheduled_run(gateway_deployment()["id"])
    done = gateway.as_role("operator").post(f"/prefect/api/flow_runs/{run['id']}/set_state", json=cancelling_body())
    assert done.status_code in (200, 201), done.text
    assert run_state(run["id"]) in {"CANCELLING", "CANCELLED"}  # Prefect cancels a scheduled run itself
    [event] = [e for e in gateway.audit_events("prefect:POST /flow_runs/{id}/set_state") if e["target_id"] == run["id"]]
    assert (event["actor"], event["outcome"]) == ("gw-operator", "success")
    assert event["after"]["state_type"] == "CANCELLING" and event["after"]["status"] in (200, 201)


def test_operator_triggers_a_deployment_but_may_not_administer(gateway):
    deployment = gateway_deployment()
    operator = gateway.as_role("operator")
    created = operator.post(f"/prefect/api/deployments/{deployment['id']}/create_flow_run", json={})
    assert created.status_code == 201, created.text
    [event] = [e for e in gateway.audit_events("prefect:POST /deployments/{id}/create_flow_run") if
               e["after"].get("result_id") == created.json()["id"]]  # fmt: skip
    assert event["actor"] == "gw-operator" and event["target_id"] == deployment["id"]
    refused = operator.delete(f"/prefect/api/flow_runs/{created.json()['id']}")
    assert refused.status_code == 403 and "gateway.administer_prefect" in refused.json()["detail"]
    assert run_state(created.json()["id"]) == "SCHEDULED"
    # A set_state the operator's rights do not cover (forcing COMPLETED) needs the administer right.
    forced = operator.post(
        f"/prefect/api/flow_runs/{created.json()['id']}/set_state",
        json={"state": {"type": "COMPLETED"}, "force": True},
    )
    assert forced.status_code == 403


def test_auditor_reads_but_cannot_trigger(gateway):
    auditor = gateway.as_role("auditor")
    assert auditor.post("/prefect/api/deployments/filter", json={}).status_code == 200
    deployment = gateway_deployment()
    assert auditor.post(f"/prefect/api/deployments/{deployment['id']}/create_flow_run", json={}).status_code == 403


def test_admin_may_do_anything_and_unknown_routes_need_the_administer_right(gateway):
    assert gateway.as_role("viewer").post("/prefect/api/no/such/route", json={}).status_code == 403
    assert gateway.as_role("admin").post("/prefect/api/no/such/route", json={}).status_code == 404  # Prefect's own
    created = gateway.as_role("admin").post("/prefect/api/variables/", json={"name": "gw_admin_var", "value": 1})
    assert created.status_code == 201, created.text
    [event] = gateway.audit_events("prefect:POST /variables/")
    assert event["actor"] == "gw-admin" and event["after"]["result_id"] == created.json()["id"]


def test_an_api_token_reaches_prefect_and_a_cross_origin_session_change_is_refused(gateway):
    headers = {"Authorization": f"Bearer {gateway.tokens['viewer']}"}
    assert httpx.post(f"{gateway.url}/prefect/api/flow_runs/count", json={}, headers=headers).status_code == 200
    viewer = gateway.as_role("viewer")
    forged = viewer.post("/prefect/api/flow_runs/count", json={}, headers={"Origin": "https://evil.example.com"})
    assert forged.status_code == 403 and forged.json()["error"] == "cross_origin"


def test_operator_retries_a_run_and_pauses_and_resumes_a_schedule_viewer_may_not(gateway):
    deployment = gateway_deployment()
    run = scheduled_run(deployment["id"])
    operator, viewer = gateway.as_role("operator"), gateway.as_role("viewer")
    operator.post(f"/prefect/api/flow_runs/{run['id']}/set_state", json=cancelling_body())
    retry = {"state": {"type": "SCHEDULED", "name": "AwaitingRetry"}, "force": True}
    assert viewer.post(f"/prefect/api/flow_runs/{run['id']}/set_state", json=retry).status_code == 403
    retried = operator.post(f"/prefect/api/flow_runs/{run['id']}/set_state", json=retry)
    assert retried.status_code in (200, 201), retried.text
    assert run_state(run["id"]) == "SCHEDULED"
    assert viewer.post(f"/prefect/api/deployments/{deployment['id']}/pause_deployment").status_code == 403
    assert operator.post(f"/prefect/api/deployments/{deployment['id']}/pause_deployment").status_code == 200
    assert operator.post(f"/prefect/api/deployments/{deployment['id']}/resume_deployment").status_code == 200
    actions = [(e["actor"], e["action"], e["outcome"]) for e in gateway.audit_events("prefect:POST /deployments/%")
               if e["target_id"] == deployment["id"] and "_deployment" in e["action"]]  # fmt: skip
    assert ("gw-viewer", "prefect:POST /deployments/{id}/pause_deployment", "denied") in actions
    assert ("gw-operator", "prefect:POST /deployments/{id}/resume_deployment", "success") in actions
