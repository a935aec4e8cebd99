from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from typing import Any

import pytest
from django.conf import settings
from django.test import Client

from controlplane.devstack.processes import ManagedProcess
from tests.graphql_client import client_for
from tests.prefect_helpers import PATIENT_RETRIES, PATIENT_TIMEOUT_SECONDS, start_flow_server
from tests.prefect_server import PrefectTestServer

# A flow that runs inside the test process must talk to the test server, never to a server on the default port.
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")


@pytest.fixture(scope="session")
def prefect_server() -> Iterator[PrefectTestServer]:
    """One real Prefect server for the whole session, locked; `settings.PREFECT_API_URL` points at it and
    `settings.PREFECT_API_AUTH_STRING` opens it.

    The test server keeps its data in SQLite while the served flows write to it, so it sometimes answers late or
    503 ("database is locked"): the suite's client waits longer and retries more than production's defaults (tests
    of failing fast set their own).
    """
    server = PrefectTestServer()
    server.start()
    names = ["PREFECT_API_URL", "PREFECT_API_AUTH_STRING", "PREFECT_API_TIMEOUT", "PREFECT_CLIENT_MAX_RETRIES"]
    previous = {name: getattr(settings, name) for name in names}
    values = [server.api_url, server.auth_string, PATIENT_TIMEOUT_SECONDS, PATIENT_RETRIES]
    for name, value in zip(names, values, strict=True):
        setattr(settings, name, value)
    try:
        yield server
    finally:
        for name, value in previous.items():
            setattr(settings, name, value)
        server.stop()


@pytest.fixture(scope="session")
def _flow_server(prefect_server: PrefectTestServer) -> Iterator[dict[str, Any]]:
    state: dict[str, Any] = {"process": None, "prefect_starts": 0}
    yield state
    if state["process"] is not None:
        state["process"].stop()


@pytest.fixture(scope="module")
def served_flows(prefect_server: PrefectTestServer, _flow_server: dict[str, Any]) -> ManagedProcess:
    """The flows of `flows/` served against the session's Prefect server, as `make run` serves them: one process
    for the session, started again after a test restarted Prefect — a runner that saw Prefect down for a few
    seconds stops noticing cancellations for good (Prefect's runner gives its cancellation polling up after three
    failed calls), so a later cancel would never finish."""
    process = _flow_server["process"]
    if process is None or not process.is_alive() or _flow_server["prefect_starts"] != prefect_server.starts:
        if process is not None:
            process.stop()
        _flow_server["process"] = start_flow_server(prefect_server)
        _flow_server["prefect_starts"] = prefect_server.starts
    return _flow_server["process"]


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    """Debian's chromium driven by Playwright, headless (never a downloaded browser); tests using it skip without
    `chromium`."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=shutil.which("chromium"),
            args=["--no-sandbox", "--headless", "--disable-gpu", "--disable-background-networking"],
        )
        yield chromium
        chromium.close()


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


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test that reaches the real Prefect test server (through any fixture) `prefect`, so a CI pass can
    select or leave out the slow, Prefect-bound half of the suite with `-m`."""
    for item in items:
        if "prefect_server" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.prefect)
