"""Schemathesis fuzzes every query and mutation of `schema.graphql` through the real WSGI stack, with an admin's and
a viewer's API token: no answer is a 5xx, and no resolver raises anything but a deliberate client error. A bounded
number of examples per operation and a fixed seed (derandomized), so a run is repeatable and takes seconds."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest
import schemathesis
from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from graphql import GraphQLError
from hypothesis import HealthCheck, Phase, given
from hypothesis import settings as hypothesis_settings

from controlplane.access.services import create_api_token
from controlplane.audit.actor import Actor
from controlplane.devstack.processes import free_port
from tests.factories import FlowRunFactory, UserFactory

SCHEMA = schemathesis.graphql.from_path(str(settings.BASE_DIR / "schema.graphql"))
SCHEMA.app = get_wsgi_application()
OPERATIONS = [result.ok() for result in SCHEMA.get_all_operations()]
EXAMPLES_PER_OPERATION = 25

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def connection_kept_across_requests() -> Iterator[None]:
    """As Django's test client does: the WSGI app called in-process must not close the test's database connection
    (and with it the test's transaction) when each request ends — on PostgreSQL every later request met a closed
    connection and answered 503."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


@pytest.fixture
def unreachable_prefect(settings) -> None:
    """Mutations that reach Prefect meet a closed port at once (refused connections, no retries)."""
    settings.PREFECT_API_URL = f"http://127.0.0.1:{free_port()}/api"
    settings.PREFECT_CLIENT_MAX_RETRIES = 0


def _resolver_errors(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    """Errors strawberry logged with a Python exception behind them (what a resolver raised)."""
    return [r for r in caplog.records if r.name == "strawberry.execution" and r.exc_info and r.exc_info[1]]


def _is_deliberate(error: BaseException) -> bool:
    """A refusal the API means to give: a GraphQL error of ours, a permission check, or strawberry's own argument
    checks."""
    if isinstance(error, GraphQLError | PermissionDenied):
        return True
    return isinstance(error, ValueError) and str(error).startswith("Argument '")


@pytest.mark.parametrize("role", ["admin", "viewer"])
@pytest.mark.parametrize("operation", OPERATIONS, ids=[operation.label for operation in OPERATIONS])
def test_no_generated_operation_gets_a_server_error(operation, role, unreachable_prefect, caplog):
    caplog.set_level(logging.ERROR, logger="strawberry.execution")
    FlowRunFactory.create_batch(3)
    user = UserFactory(role=role)
    _, secret = create_api_token(Actor.for_user(user), user, "fuzz")
    answers: list[tuple[str, int, str]] = []

    @given(case=operation.as_strategy())
    @hypothesis_settings(
        max_examples=EXAMPLES_PER_OPERATION,
        derandomize=True,
        deadline=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    def call(case: schemathesis.Case) -> None:
        response = case.call(base_url="http://testserver/graphql/", headers={"Authorization": f"Bearer {secret}"})
        answers.append((str(case.body)[:300], response.status_code, response.text[:300]))
        assert response.status_code < 500, answers[-1]
        assert "Traceback" not in response.text, answers[-1]

    call()
    unexpected = [record for record in _resolver_errors(caplog) if not _is_deliberate(record.exc_info[1])]
    assert not unexpected, [(record.getMessage(), repr(record.exc_info[1])) for record in unexpected]
    assert answers, "schemathesis generated no operation"
