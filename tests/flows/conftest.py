"""Running a catalogue flow inside the test process, against the session's real Prefect server.

A flow that reads or writes the control plane's database is called directly here rather than served: a served run is
a separate process, which cannot see pytest-django's test database (on SQLite it lives in this process's memory).
Called directly, a Prefect flow still creates a real flow run in the server, with its task runs, logs and artifacts,
and ends in a real state, which the tests assert through Prefect's API.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from prefect.settings import PREFECT_API_AUTH_STRING, PREFECT_API_URL, temporary_settings

from tests.prefect_server import PrefectTestServer
from workflows import prefect_api

RunFlow = Callable[..., tuple[Any, dict[str, Any]]]


@pytest.fixture
def run_flow(prefect_server: PrefectTestServer, transactional_db) -> Iterator[RunFlow]:
    """`run_flow(flow, **parameters)` → (its return value, the run as Prefect reads it afterwards).

    `transactional_db`: the flow's writes are committed as in production (durable audit writes, a backup of the
    database must see them)."""

    def run(flow: Any, **parameters: Any) -> tuple[Any, dict[str, Any]]:
        state = flow(**parameters, return_state=True)
        run = prefect_api.read_flow_run(state.state_details.flow_run_id)
        result = state.result(raise_on_failure=False)
        return result, run

    updates = {PREFECT_API_URL: prefect_server.api_url, PREFECT_API_AUTH_STRING: prefect_server.auth_string}
    with temporary_settings(updates=updates):
        yield run


def artifacts_of(flow_run_id: str) -> list[dict[str, Any]]:
    return prefect_api._post("/artifacts/filter", {"flow_runs": {"id": {"any_": [flow_run_id]}}})
