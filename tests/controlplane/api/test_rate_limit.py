"""Each caller has a per-minute budget of queries and of mutations: over it, 429 with Retry-After before anything
runs, and one audit event per caller and window however many requests are refused."""

from __future__ import annotations

import pytest
from django.core.cache import cache
from django.test import Client

from controlplane.access.services import create_api_token
from controlplane.api import rate_limit
from controlplane.audit.actor import Actor
from controlplane.audit.models import AuditEvent
from tests.factories import FlowRunFactory, UserFactory
from tests.graphql_client import post_graphql

pytestmark = pytest.mark.django_db

QUERY = "{ flowRuns(first: 1) { totalCount } }"
MUTATION = 'mutation { revokeApiToken(id: "0") { __typename } }'


@pytest.fixture
def budgets(settings, monkeypatch):
    # One fixed instant 20 s into a window: a minute boundary never falls inside a test, however slow the machine.
    monkeypatch.setattr(rate_limit.time, "time", lambda: 1_800_000_000.0 + 20)
    cache.clear()  # counters of earlier tests
    settings.API_RATE_LIMIT_QUERIES = 3
    settings.API_RATE_LIMIT_MUTATIONS = 2
    yield
    cache.clear()


def _token_client(role: str = "viewer") -> tuple[Client, dict[str, str]]:
    user = UserFactory(role=role)
    _, secret = create_api_token(Actor.for_user(user), user, "script")
    return Client(), {"Authorization": f"Bearer {secret}"}


def test_queries_over_the_budget_get_429_with_retry_after_and_one_audit_event(budgets):
    FlowRunFactory()
    client, auth = _token_client()
    answers = [post_graphql(client, QUERY, **auth) for _ in range(6)]
    assert [answer.status_code for answer in answers] == [200, 200, 200, 429, 429, 429]
    refused = answers[3]
    assert refused["Retry-After"] == "40"
    assert refused.json()["errors"][0]["extensions"] == {"code": "RATE_LIMITED"}
    assert "budget is 3 a minute" in refused.json()["errors"][0]["message"]
    [event] = AuditEvent.objects.filter(action="api.rate_limited")
    assert (event.outcome, event.target_id, event.after["budget_per_minute"]) == ("denied", "query", 3)
    assert event.actor_label.endswith("(token:script)")


def test_mutations_have_their_own_budget(budgets):
    client, auth = _token_client("operator")
    assert [post_graphql(client, MUTATION, **auth).status_code for _ in range(3)] == [200, 200, 429]
    assert post_graphql(client, QUERY, **auth).status_code == 200  # queries still within theirs


def test_each_caller_has_its_own_budget(budgets):
    first, first_auth = _token_client()
    second, second_auth = _token_client()
    assert [post_graphql(first, QUERY, **first_auth).status_code for _ in range(4)][-1] == 429
    assert post_graphql(second, QUERY, **second_auth).status_code == 200
    session = Client()
    session.force_login(UserFactory(role="viewer"))
    assert post_graphql(session, QUERY).status_code == 200


def test_a_budget_of_zero_is_no_limit(budgets, settings):
    settings.API_RATE_LIMIT_QUERIES = 0
    client, auth = _token_client()
    assert {post_graphql(client, QUERY, **auth).status_code for _ in range(8)} == {200}
