"""Runs of a deployment that nothing executes, put into the state a test needs through Prefect's own API: their
state then changes only when the test (or the code under test) changes it, so no test waits on a served flow."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from controlplane.audit.actor import Actor
from tests.factories import UserFactory
from tests.prefect_helpers import create_deployment_in_prefect, create_flow_run_in_prefect, set_state_in_prefect
from tests.workflows.real_runs import mirror
from workflows import prefect_api
from workflows.models import FlowRun
from workflows.references import sync_reference_data


class IdleDeployment:
    """A deployment in a work pool without workers; `run(state)` makes a mirrored run of it in that state."""

    def __init__(self) -> None:
        self.name = f"idle-{uuid.uuid4().hex[:8]}"
        self.payload = create_deployment_in_prefect(self.name, work_pool="idle-pool")
        sync_reference_data()

    def run(self, state_type: str = "SCHEDULED", state_name: str | None = None) -> FlowRun:
        created = create_flow_run_in_prefect(self.payload, f"{self.name}-{uuid.uuid4().hex[:6]}")
        if state_type != "SCHEDULED":
            set_state_in_prefect(created["id"], state_type, state_name or state_type.title(), force=True)
        return mirror(created["id"])


@pytest.fixture
def operator() -> Actor:
    return Actor(user=UserFactory(role="operator"), ip_address="10.0.0.8")


@pytest.fixture
def idle_deployment(prefect_server: Any) -> IdleDeployment:
    return IdleDeployment()


@pytest.fixture
def prefect_requests() -> Iterator[list[tuple[str, str]]]:
    """(method, path) of every request the process's Prefect client sends while the test runs (an httpx event
    hook on the real client: nothing is replaced)."""
    client, _ = prefect_api._kept_session_client()
    seen: list[tuple[str, str]] = []

    def hook(request: Any) -> None:
        seen.append((request.method, request.url.path.removeprefix("/api")))

    hooks = client._client.event_hooks
    hooks["request"].append(hook)
    client._client.event_hooks = hooks
    try:
        yield seen
    finally:
        hooks["request"].remove(hook)
        client._client.event_hooks = hooks


def prefect_calls(requests: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """The calls behind these requests: a request sent again right after itself is one call retried by Prefect's
    client (the suite's client retries the SQLite test server's 503s and timeouts), not a second round trip."""
    return [request for index, request in enumerate(requests) if index == 0 or requests[index - 1] != request]
