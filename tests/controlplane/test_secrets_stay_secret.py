"""Secrets — API token secrets, the audit HMAC key, the Prefect auth string — never appear in logs, error messages
or GraphQL answers, whatever fails."""

from __future__ import annotations

import logging

import pytest
from django.test import Client

from controlplane.access.services import create_api_token
from controlplane.audit.actor import Actor
from controlplane.devstack.processes import free_port
from tests.factories import DeploymentFactory, UserFactory
from tests.graphql_client import post_graphql
from workflows.tasks import sync_prefect_mirror

pytestmark = pytest.mark.django_db

PREFECT_AUTH = "ops:prefect-auth-secret-5f1c"
HMAC_KEY = "audit-hmac-secret-9d2e"


def test_no_secret_reaches_a_log_line_or_an_answer(settings, caplog):
    settings.PREFECT_API_URL = f"http://127.0.0.1:{free_port()}/api"
    settings.PREFECT_API_AUTH_STRING = PREFECT_AUTH
    settings.PREFECT_CLIENT_MAX_RETRIES = 0
    settings.AUDIT_HMAC_KEY = HMAC_KEY
    caplog.set_level(logging.DEBUG)
    operator = UserFactory(role="operator")
    _, token_secret = create_api_token(Actor.for_user(operator), operator, "ci")
    deployment = DeploymentFactory()
    auth = {"Authorization": f"Bearer {token_secret}"}
    client = Client()

    answers = [
        post_graphql(client, "{ me { username } }", **auth),
        post_graphql(
            client,
            "mutation($id: ID!) { triggerDeployment(deploymentId: $id, parameters: {rows: 1}) { __typename "
            "... on OperationInfo { messages { message } } } }",
            {"id": str(deployment.prefect_id)},
            **auth,
        ),  # Prefect unreachable: the refusal names the server, not its credentials
        post_graphql(client, "{ me { username } }", Authorization=f"Bearer {token_secret}x"),  # a wrong token
    ]
    sync_prefect_mirror()  # fails against the unreachable server and logs why

    assert "unreachable" in answers[1].content.decode().lower() or "unavailable" in answers[1].content.decode()
    assert answers[2].status_code == 401
    seen = caplog.text + "".join(answer.content.decode() for answer in answers)
    for secret in (token_secret, PREFECT_AUTH, "prefect-auth-secret", HMAC_KEY):
        assert secret not in seen
