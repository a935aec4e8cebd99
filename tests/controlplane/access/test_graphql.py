"""login / logout through GraphQL (django-axes counts failures) and API tokens created, used and revoked."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.test import Client

from controlplane.audit.models import AuditEvent
from tests.factories import UserFactory
from tests.graphql_client import graphql_data, post_graphql

pytestmark = pytest.mark.django_db

PASSWORD = "correct horse battery staple"  # what UserFactory sets
LOGIN = """mutation Login($username: String!, $password: String!) { login(username: $username, password: $password) {
    __typename ... on Me { username roles } ... on OperationInfo { messages { kind message } } } }"""
CREATE_TOKEN = """mutation Create($name: String!) { createApiToken(name: $name) {
    __typename ... on CreatedApiToken { secret token { id name prefix username } }
    ... on OperationInfo { messages { kind message field } } } }"""
REVOKE_TOKEN = """mutation Revoke($id: ID!) { revokeApiToken(id: $id) {
    __typename ... on ApiToken { revokedAt } ... on OperationInfo { messages { kind message } } } }"""


def test_login_starts_a_session_and_logout_ends_it():
    user = UserFactory(role="operator")
    client = Client()
    me = graphql_data(client, LOGIN, {"username": user.username, "password": PASSWORD})["login"]
    assert me == {"__typename": "Me", "username": user.username, "roles": ["operator"]}
    assert graphql_data(client, "{ me { username } }")["me"] == {"username": user.username}
    assert graphql_data(client, "mutation { logout }") == {"logout": True}
    assert graphql_data(client, "{ me { username } }")["me"] is None


def test_wrong_password_is_a_permission_payload_and_axes_locks_out_after_the_limit():
    user = UserFactory(role="viewer")
    client = Client()
    wrong = {"username": user.username, "password": "wrong"}
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        refused = graphql_data(client, LOGIN, wrong)["login"]
        assert refused["messages"] == [{"kind": "PERMISSION", "message": "Wrong username or password."}]
    # The failure that reaches the limit, and every attempt after it (even with the right password), is locked out.
    for password in ("wrong", PASSWORD):
        locked = post_graphql(client, LOGIN, {"username": user.username, "password": password})
        assert locked.status_code == settings.AXES_HTTP_RESPONSE_CODE
        assert locked.json()["errors"][0]["extensions"]["code"] == "LOCKED_OUT"


def test_token_created_by_its_user_authenticates_until_revoked(viewer_client):
    created = graphql_data(viewer_client, CREATE_TOKEN, {"name": "dashboard"})["createApiToken"]
    assert created["__typename"] == "CreatedApiToken"
    secret = created["secret"]
    assert secret.startswith(created["token"]["prefix"])

    as_token = Client()
    me = post_graphql(as_token, "{ me { username } }", Authorization=f"Bearer {secret}").json()
    assert me["data"]["me"]["username"] == created["token"]["username"]

    revoked = graphql_data(viewer_client, REVOKE_TOKEN, {"id": created["token"]["id"]})["revokeApiToken"]
    assert revoked["__typename"] == "ApiToken"
    assert revoked["revokedAt"] is not None
    after = post_graphql(as_token, "{ me { username } }", Authorization=f"Bearer {secret}")
    assert after.status_code == 401
    actions = set(AuditEvent.objects.values_list("action", flat=True))
    assert {"api_token.create", "api_token.revoke"} <= actions


def test_duplicate_token_name_is_a_field_error(viewer_client):
    graphql_data(viewer_client, CREATE_TOKEN, {"name": "ci"})
    again = graphql_data(viewer_client, CREATE_TOKEN, {"name": "ci"})["createApiToken"]
    assert again["__typename"] == "OperationInfo"
    assert {"kind": "VALIDATION", "message": "Name already in use.", "field": "name"} in again["messages"]


def test_anonymous_cannot_create_tokens(db):
    refused = graphql_data(Client(), CREATE_TOKEN, {"name": "sneaky"})["createApiToken"]
    assert refused["__typename"] == "OperationInfo"
    assert refused["messages"][0]["kind"] == "PERMISSION"
