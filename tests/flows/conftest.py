"""Running a catalogue flow inside the test process, against the session's real Prefect server; a Redis stream on
the local Redis for the stream pipeline.

A flow that reads or writes the control plane's database is called directly here rather than served: a served run is
a separate process, which cannot see pytest-django's test database (on SQLite it lives in this process's memory).
Called directly, a Prefect flow still creates a real flow run in the server, with its task runs, logs and artifacts,
and ends in a real state, which the tests assert through Prefect's API.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import redis
from prefect.events.worker import EventsWorker
from prefect.logging.handlers import APILogWorker
from prefect.settings import PREFECT_API_AUTH_STRING, PREFECT_API_URL, temporary_settings

from tests.monitoring.conftest import WebhookServer, webhook_server  # noqa: F401 -- the digest tests' receiver
from tests.prefect_server import PrefectTestServer
from workflows import prefect_api

RunFlow = Callable[..., tuple[Any, dict[str, Any]]]
# The Redis databases the flow tests may use (never db 0): the stream tests use the first.
TEST_REDIS_URL = "redis://127.0.0.1:6379/12"


@contextmanager
def _reporting_to(server: PrefectTestServer) -> Iterator[None]:
    updates = {PREFECT_API_URL: server.api_url, PREFECT_API_AUTH_STRING: server.auth_string}
    with temporary_settings(updates=updates):
        yield
        # Send the logs and events still queued while the settings point at the test server (else they are sent,
        # and fail, at interpreter exit).
        APILogWorker.drain_all(timeout=30)
        EventsWorker.drain_all(timeout=30)


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

    with _reporting_to(prefect_server):
        yield run


@pytest.fixture
def in_process_prefect(prefect_server: PrefectTestServer) -> Iterator[PrefectTestServer]:
    """Flows called directly in this process report to the session's Prefect test server (the test picks its
    database fixture)."""
    with _reporting_to(prefect_server):
        yield prefect_server


def artifacts_of(flow_run_id: str) -> list[dict[str, Any]]:
    return prefect_api._post("/artifacts/filter", {"flow_runs": {"id": {"any_": [flow_run_id]}}})


@pytest.fixture
def redis_stream(settings) -> Iterator[redis.Redis]:
    """A fresh stream (its own name) on the local Redis, db 12; skipped with the reason when Redis is not there."""
    client = redis.Redis.from_url(TEST_REDIS_URL, decode_responses=True, socket_connect_timeout=2)
    try:
        client.ping()
    except redis.ConnectionError as exc:
        pytest.skip(f"no Redis at {TEST_REDIS_URL}: {exc}")
    settings.STREAM_REDIS_URL = TEST_REDIS_URL
    settings.STREAM_NAME = f"test:readings:{uuid.uuid4().hex[:8]}"
    settings.STREAM_CONSUMER_GROUP = "test-group"
    try:
        yield client
    finally:
        client.delete(settings.STREAM_NAME)
        client.close()
