"""Fixtures of the flow tests: flows called in the test process run against the session's Prefect test server (a
real flow run each, with its task runs, states, logs and artifacts), and a Redis stream on the local Redis."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
import redis
from prefect.events.worker import EventsWorker
from prefect.logging.handlers import APILogWorker
from prefect.settings import PREFECT_API_AUTH_STRING, PREFECT_API_URL, temporary_settings

from tests.prefect_server import PrefectTestServer

# The Redis databases the flow tests may use (never db 0): the stream tests use the first.
TEST_REDIS_URL = "redis://127.0.0.1:6379/12"


@pytest.fixture
def in_process_prefect(prefect_server: PrefectTestServer) -> Iterator[PrefectTestServer]:
    """Flows called directly in this process report to the session's Prefect test server."""
    values = {PREFECT_API_URL: prefect_server.api_url, PREFECT_API_AUTH_STRING: prefect_server.auth_string}
    with temporary_settings(values):
        yield prefect_server
        # Send the logs and events still queued while the settings point at the test server (else they are sent,
        # and fail, at interpreter exit).
        APILogWorker.drain_all(timeout=30)
        EventsWorker.drain_all(timeout=30)


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
