from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client

from tests.factories import UserFactory
from tests.workflows.operation_runs import idle_deployment, prefect_requests

__all__ = ["idle_deployment", "prefect_requests"]  # fixtures shared with tests/workflows

GRAPHQL_URL = "/graphql/"


def post_graphql(client: Client, query: str, variables: dict[str, Any] | None = None, **headers: str) -> Any:
    """POST a GraphQL operation as a JSON body, as every client of this API does; returns the decoded response."""
    body = json.dumps({"query": query, "variables": variables or {}})
    return client.post(GRAPHQL_URL, body, content_type="application/json", headers=headers)


def graphql_data(client: Client, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
    """Run an operation that must succeed; returns `data`."""
    response = post_graphql(client, query, variables)
    payload = response.json()
    assert response.status_code == 200, payload
    assert "errors" not in payload, payload["errors"]
    return payload["data"]


def graphql_errors(client: Client, query: str, variables: dict[str, Any] | None = None) -> list[str]:
    """Run an operation that must fail; returns the error messages."""
    payload = post_graphql(client, query, variables).json()
    assert payload.get("errors"), payload
    return [error["message"] for error in payload["errors"]]


def client_for(role: str | None) -> Client:
    client = Client()
    if role:
        client.force_login(UserFactory(role=role))
    return client


@pytest.fixture
def viewer_client(db) -> Client:
    return client_for("viewer")


@pytest.fixture
def operator_client(db) -> Client:
    return client_for("operator")


@pytest.fixture
def auditor_client(db) -> Client:
    return client_for("auditor")


@pytest.fixture
def admin_client_role(db) -> Client:
    return client_for("admin")
