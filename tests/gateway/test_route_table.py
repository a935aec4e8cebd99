"""The route table covers the installed Prefect: every route its OpenAPI document lists is classified explicitly,
and the reads are only what cannot change anything."""

from __future__ import annotations

import logging

import prefect
import pytest

from gateway.rights import decide
from gateway.routes import (
    ROUTE_TABLE,
    ROUTES_WRITTEN_FOR,
    WEBSOCKET,
    Right,
    check_installed_prefect_version,
    check_prefect_version,
)
from tests.prefect_helpers import prefect_request

pytestmark = pytest.mark.prefect
READ_POST_SUFFIXES = ("/filter", "/count", "/history", "/paginate", "/lateness", "/validate", "/concurrency_status",
                      "/counts", "/count-task-runs", "/count-deployments", "/next-runs")  # fmt: skip


@pytest.fixture(scope="module")
def served_routes(prefect_server) -> set[tuple[str, str]]:
    document = prefect_request("GET", "/openapi.json").json()
    return {(method.upper(), path) for path, operations in document["paths"].items() for method in operations}


def test_every_route_of_the_installed_prefect_is_in_the_table(served_routes):
    listed = {(route.method, route.template) for route in ROUTE_TABLE if route.method != WEBSOCKET}
    assert sorted(served_routes - listed) == [], "classify these routes in gateway/routes.py"
    assert sorted(listed - served_routes) == [], "routes Prefect no longer serves"
    assert prefect.__version__ == ROUTES_WRITTEN_FOR


def test_reads_are_gets_and_read_only_posts():
    for route in ROUTE_TABLE:
        if route.right is Right.READ and route.method not in ("GET", WEBSOCKET):
            assert route.method == "POST" and (
                route.template.endswith(READ_POST_SUFFIXES) or route.template.startswith("/events/count-by/")
            ), route


def test_an_unknown_route_needs_the_administer_right_and_is_logged(caplog):
    with caplog.at_level(logging.WARNING, logger="gateway.routes"):
        decision = decide(lambda permission: permission != "gateway.administer_prefect", "POST", "/brand/new/route")
    assert not decision.allowed and decision.right is Right.ADMINISTER
    assert "POST /brand/new/route is not in the gateway's route table" in caplog.text


def test_a_prefect_version_the_table_was_not_written_for_is_logged(monkeypatch, caplog):
    monkeypatch.setattr(prefect, "__version__", "9.9.9")
    with caplog.at_level(logging.WARNING, logger="gateway.routes"):
        assert check_installed_prefect_version() is False
    assert "written for Prefect 3.8.8 but 9.9.9 is installed" in caplog.text


def test_the_version_prefect_serves_is_the_one_the_table_was_written_for(prefect_server):
    assert check_prefect_version(prefect_request("GET", "/admin/version").json(), "served")
