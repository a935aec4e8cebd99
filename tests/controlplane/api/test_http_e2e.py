"""The API as an external tool sees it: gunicorn on loopback (its own SQLite file, migrated here), the real Prefect
test server and served flows, and `httpx` as the client — no Django test client anywhere in this module."""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from controlplane.devstack.processes import ManagedProcess, free_port
from flows.serve import ETL_DEPLOYMENT
from tests.prefect_helpers import REPO_ROOT
from tests.processes import manage, site_env, wait_for_http

pytestmark = pytest.mark.prefect

PASSWORD = "e2e-Password-for-tests"
PREFECT_DOWN = "Prefect is unavailable"  # workflows.services' message for a Prefect 5xx or timeout
# Run inside the server's database: users in each role, a token each, and the served deployments mirrored.
SEED_SCRIPT = f"""
import json
from django.contrib.auth.models import Group, User
from controlplane.audit.actor import Actor
from controlplane.access.services import create_api_token
from workflows.references import sync_reference_data

secrets = {{}}
for role in ("viewer", "operator", "admin"):
    user = User.objects.create_user(f"e2e-{{role}}", password="{PASSWORD}", is_staff=True)
    user.groups.add(Group.objects.get(name=role))
    secrets[role] = create_api_token(Actor.system(), user, "e2e")[1]
sync_reference_data()
print(json.dumps(secrets))
"""


@dataclass
class RunningApi:
    url: str
    tokens: dict[str, str]

    def graphql(self, query: str, variables: dict[str, Any] | None = None, token: str | None = None) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.tokens[token]}"} if token else {}
        return httpx.post(
            f"{self.url}/graphql/", json={"query": query, "variables": variables or {}}, headers=headers, timeout=60
        )


@pytest.fixture(scope="module")
def api(prefect_server, served_flows) -> Iterator[RunningApi]:
    home = Path(tempfile.mkdtemp(prefix="cp-graphql-e2e-"))
    port = free_port()
    env = site_env(home, **prefect_server.client_env())
    full_env = {**os.environ, **env}
    manage(full_env, "migrate", "--noinput")
    tokens = json.loads(manage(full_env, "shell", "-c", SEED_SCRIPT).strip().splitlines()[-1])
    command = [
        str(Path(sys.executable).with_name("gunicorn")),
        "controlplane.wsgi",
        "--bind",
        f"127.0.0.1:{port}",
        "--workers",
        "2",
        "--timeout",
        "120",
    ]
    web = ManagedProcess("gunicorn-e2e", command, env, log_file=home / "gunicorn.log", cwd=REPO_ROOT).start()
    try:
        wait_for_http(f"http://127.0.0.1:{port}/admin/login/", web)
        yield RunningApi(url=f"http://127.0.0.1:{port}", tokens=tokens)
    finally:
        web.stop()


TRIGGER = """mutation Trigger($name: String!, $parameters: JSON) {
  triggerDeployment(name: $name, parameters: $parameters) {
    __typename
    ... on FlowRun { prefectId name parameters deployment { fullName } }
    ... on OperationInfo { messages { kind message } }
  }
}"""


def _trigger(send: Callable[[], httpx.Response], attempts: int = 3) -> dict[str, Any]:
    """The trigger's payload. The session's Prefect server (SQLite, shared with served runs and its own services)
    can answer 5xx on a loaded machine; only that answer is retried — any other refusal is the result."""
    for attempt in range(attempts):
        response = send()
        assert response.status_code == 200, response.text[:500]
        result = response.json()["data"]["triggerDeployment"]
        messages = result.get("messages") or []
        unavailable = any(m["kind"] == "ERROR" and m["message"].startswith(PREFECT_DOWN) for m in messages)
        if not unavailable or attempt == attempts - 1:
            return result
        time.sleep(2)
    raise AssertionError("unreachable")


def _etl_full_name(api: RunningApi) -> str:
    response = api.graphql("{ deployments { edges { node { name fullName } } } }", token="viewer")
    names = {edge["node"]["name"]: edge["node"]["fullName"] for edge in response.json()["data"]["deployments"]["edges"]}
    return names[ETL_DEPLOYMENT]


def test_operator_token_triggers_a_deployment_and_reads_the_run_back(api):
    variables = {"name": _etl_full_name(api), "parameters": {"rows": 8}}
    run = _trigger(lambda: api.graphql(TRIGGER, variables, token="operator"))
    assert run["__typename"] == "FlowRun", run

    read = api.graphql(
        "query Run($id: ID!) { flowRun(id: $id) { prefectId name parameters deployment { fullName } } }",
        {"id": run["prefectId"]},
        token="operator",
    ).json()["data"]["flowRun"]
    assert read == {key: run[key] for key in ("prefectId", "name", "parameters", "deployment")}
    assert read["parameters"]["rows"] == 8


def test_viewer_token_is_refused_the_mutation_and_the_attempt_is_audited(api):
    refused = api.graphql(TRIGGER, {"name": _etl_full_name(api)}, token="viewer").json()["data"]["triggerDeployment"]
    assert refused["__typename"] == "OperationInfo"
    assert refused["messages"][0]["kind"] == "PERMISSION"

    audit_query = """{ auditEvents(first: 5, filter: {action: "graphql.triggerDeployment", outcome: "denied"}) {
        edges { node { actorLabel outcome message } } } }"""
    events = api.graphql(audit_query, token="admin").json()["data"]["auditEvents"]["edges"]
    assert events, "the refused trigger is not in the audit log"
    assert events[0]["node"]["actorLabel"] == "e2e-viewer (token:e2e)"


def test_session_without_csrf_token_is_refused_for_mutations(api):
    with httpx.Client(base_url=api.url, timeout=60) as browser:
        login_page = browser.get("/admin/login/")
        csrf = login_page.cookies["csrftoken"]
        logged_in = browser.post(
            "/admin/login/?next=/admin/",
            data={"username": "e2e-operator", "password": PASSWORD, "csrfmiddlewaretoken": csrf},
            headers={"Referer": f"{api.url}/admin/login/"},
        )
        assert logged_in.status_code == 302, logged_in.text[:500]
        assert "sessionid" in browser.cookies

        body = {"query": TRIGGER, "variables": {"name": _etl_full_name(api)}}
        without_token = browser.post("/graphql/", json=body)
        assert without_token.status_code == 403
        assert without_token.json()["errors"][0]["extensions"]["code"] == "CSRF_FAILED"

        csrf_header = {"X-CSRFToken": browser.cookies["csrftoken"]}
        result = _trigger(lambda: browser.post("/graphql/", json=body, headers=csrf_header))
        assert result["__typename"] == "FlowRun", result
