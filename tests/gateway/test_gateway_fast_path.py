"""The gateway's fast path for Prefect's API (`gateway/fast_path.py`, on by default: the `gateway` fixture serves it)
against Django's path (`GATEWAY_FAST_PATH=false`, a second uvicorn on the same database): the same refusals, the same
headers, no cache of who a token or session is, and changes audited in the hash chain."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest

from tests.gateway.conftest import Gateway, login
from tests.processes import manage, start_uvicorn

pytestmark = pytest.mark.prefect

# Headers that differ by nature between two servers and two moments, not by what the gateway decides.
_INCIDENTAL_HEADERS = {"date", "server", "content-length", "transfer-encoding", "set-cookie"}

TOKEN_SCRIPT = """
from django.contrib.auth.models import User
from controlplane.access.services import create_api_token
from controlplane.audit.actor import Actor
print(create_api_token(Actor.system(), User.objects.get(username="gw-viewer"), "{name}")[1])
"""
REVOKE_SCRIPT = """
from controlplane.access.models import ApiToken
from controlplane.access.services import revoke_api_token
from controlplane.audit.actor import Actor
revoke_api_token(Actor.system(), ApiToken.objects.get(name="{name}"))
"""


@pytest.fixture(scope="module")
def django_path(gateway: Gateway) -> Iterator[str]:
    process, url = start_uvicorn("gateway-django-path", {**gateway.env, "GATEWAY_FAST_PATH": "false"}, gateway.home)
    try:
        yield url
    finally:
        process.stop()


def _answer(url: str, method: str, path: str, **options: object) -> httpx.Response:
    return httpx.request(method, f"{url}/prefect/api{path}", timeout=60, **options)


def _decisive_headers(answer: httpx.Response) -> dict[str, str]:
    return {key: value for key, value in answer.headers.items() if key not in _INCIDENTAL_HEADERS}


def test_the_fast_path_can_be_switched_off(gateway):
    shown = "from django.conf import settings; print(settings.ASGI_HTTP_APPLICATIONS)"
    assert "gateway.fast_path" in manage(gateway.env, "shell", "-c", shown)
    switched_off = manage({**gateway.env, "GATEWAY_FAST_PATH": "false"}, "shell", "-c", shown)
    assert switched_off.strip().splitlines()[-1] == "[]"


@pytest.mark.parametrize(
    ("method", "path", "headers"),
    [
        ("POST", "/flow_runs/count", {}),  # anonymous: 401 JSON
        ("POST", "/flow_runs/count", {"Authorization": "Bearer cp_not-a-token"}),  # a bad token: 401
        ("POST", "/flow_runs/count", {"Authorization": "Bearer viewer"}),  # a read: 200, streamed
        ("DELETE", "/flow_runs/00000000-0000-0000-0000-000000000000", {"Authorization": "Bearer viewer"}),  # 403
    ],
)
def test_the_fast_path_answers_as_django_with_the_same_security_headers(gateway, django_path, method, path, headers):
    headers = {key: value.replace("viewer", gateway.tokens["viewer"]) for key, value in headers.items()}
    options = {"headers": headers, "json": {} if method == "POST" else None}
    fast, django = _answer(gateway.url, method, path, **options), _answer(django_path, method, path, **options)
    assert fast.status_code == django.status_code
    assert fast.json() == django.json()
    # All of Django's, and X-Frame-Options even where Django's refusal of a bad token comes before that middleware.
    assert _decisive_headers(django).items() <= _decisive_headers(fast).items()
    assert fast.headers["x-frame-options"] == "DENY" and fast.headers["x-content-type-options"] == "nosniff"
    if fast.status_code == 401:
        assert "WWW-Authenticate" in fast.headers
    if fast.status_code == 403:
        assert "gateway.administer_prefect" in fast.json()["detail"]


def test_a_session_read_varies_on_the_cookie_as_through_django(gateway, django_path):
    fast = gateway.as_role("viewer").post("/prefect/api/flow_runs/count", json={})
    client = login(django_path, "viewer")
    try:
        django = client.post("/prefect/api/flow_runs/count", json={})
    finally:
        client.close()
    assert fast.status_code == django.status_code == 200
    assert _decisive_headers(fast) == _decisive_headers(django)
    assert "Cookie" in fast.headers["vary"]


def test_a_revoked_token_is_refused_at_its_next_request(gateway):
    secret = manage(gateway.env, "shell", "-c", TOKEN_SCRIPT.format(name="fast-path-revoked")).strip().splitlines()[-1]
    bearer = {"Authorization": f"Bearer {secret}"}
    assert _answer(gateway.url, "POST", "/flow_runs/count", json={}, headers=bearer).status_code == 200
    manage(gateway.env, "shell", "-c", REVOKE_SCRIPT.format(name="fast-path-revoked"))
    refused = _answer(gateway.url, "POST", "/flow_runs/count", json={}, headers=bearer)
    assert refused.status_code == 401
    assert refused.json() == {"errors": [{"message": "Invalid, expired or revoked API token."}]}


def test_a_session_is_refused_at_its_next_request_after_logout(gateway):
    client = login(gateway.url, "viewer")
    try:
        session = client.cookies["sessionid"]
        assert client.post("/prefect/api/flow_runs/count", json={}).status_code == 200
        logged_out = client.post("/admin/logout/", data={"csrfmiddlewaretoken": client.cookies["csrftoken"]})
        assert logged_out.status_code in (200, 302)
        replayed = _answer(gateway.url, "POST", "/flow_runs/count", json={}, cookies={"sessionid": session})
        assert replayed.status_code == 401 and replayed.json()["error"] == "unauthenticated"
    finally:
        client.close()


def test_a_change_through_the_fast_path_with_a_token_is_audited_in_the_chain(gateway):
    bearer = {"Authorization": f"Bearer {gateway.tokens['admin']}"}
    limit = {"tag": "gw-fast-path", "concurrency_limit": 1}
    created = _answer(gateway.url, "POST", "/concurrency_limits/", json=limit, headers=bearer)
    assert created.status_code in (200, 201), created.text
    assert created.headers["x-frame-options"] == "DENY"
    [event] = [e for e in gateway.audit_events("prefect:POST /concurrency_limits/") if
               e["after"].get("result_id") == created.json()["id"]]  # fmt: skip
    assert (event["actor"], event["outcome"]) == ("gw-admin (token:gateway-tests)", "success")
    verified = manage(gateway.env, "verify_audit_log")
    assert "ok" in verified.lower() or "intact" in verified.lower(), verified


def test_a_request_for_another_host_is_left_to_django(gateway):
    answer = _answer(gateway.url, "POST", "/flow_runs/count", json={}, headers={"Host": "evil.example.com"})
    assert answer.status_code == 400


def test_a_body_over_the_upload_limit_is_left_to_django(gateway):
    bearer = {"Authorization": f"Bearer {gateway.tokens['viewer']}"}
    body = json.dumps({"padding": "x" * (1024 * 1024 + 1)})
    answer = _answer(gateway.url, "POST", "/flow_runs/count", content=body, headers=bearer)
    assert answer.status_code == 400
