"""Hostile or oversized requests get a clear GraphQL error (never a 500) and cost no database work."""

from __future__ import annotations

import json

import pytest
from django.conf import settings
from django.test import Client, override_settings

from tests.factories import FlowRunFactory
from tests.graphql_client import GRAPHQL_URL, client_for, graphql_data, graphql_errors, post_graphql

pytestmark = pytest.mark.django_db


def _deep_query(depth: int) -> str:
    """A query `depth` levels deep (below its root field), through a cycle the schema really has:
    flowRuns > edges > node > flow > deployments > flow > deployments > … > name."""
    cycle = ["deployments", "flow"] * depth
    fields = ["flowRuns", "edges", "node", "flow", *cycle[: depth - 4], "name"]
    query = fields[-1]
    for field in reversed(fields[:-1]):
        query = f"{field} {{ {query} }}"
    return f"{{ {query} }}"


def test_depth_20_query_is_refused_without_database_work(viewer_client, django_assert_num_queries):
    FlowRunFactory()
    with django_assert_num_queries(0):
        response = post_graphql(viewer_client, _deep_query(20))
    assert response.status_code == 200
    [error] = response.json()["errors"]
    assert "exceeds maximum operation depth" in error["message"]


def test_query_within_the_depth_limit_runs(viewer_client):
    FlowRunFactory()
    data = graphql_data(viewer_client, _deep_query(settings.GRAPHQL_MAX_DEPTH))
    assert len(data["flowRuns"]["edges"]) == 1


def test_thousand_alias_query_is_refused_without_database_work(viewer_client, django_assert_num_queries):
    query = "{ " + " ".join(f"a{i}: __typename" for i in range(1000)) + " }"
    with django_assert_num_queries(0):
        errors = graphql_errors(viewer_client, query)
    assert errors == [f"1000 aliases found. Allowed: {settings.GRAPHQL_MAX_ALIASES}"]


def test_document_with_too_many_tokens_is_refused(viewer_client, django_assert_num_queries):
    query = "{ " + " ".join(["__typename"] * (settings.GRAPHQL_MAX_TOKENS + 10)) + " }"
    with django_assert_num_queries(0):
        errors = graphql_errors(viewer_client, query)
    assert f"more than {settings.GRAPHQL_MAX_TOKENS} tokens" in errors[0]


def test_five_megabyte_body_gets_a_graphql_error_not_a_500(viewer_client, django_assert_num_queries):
    padding = "x" * (5 * 1024 * 1024)
    body = json.dumps({"query": "{ me { username } }", "variables": {"padding": padding}})
    with django_assert_num_queries(0):
        response = viewer_client.post(GRAPHQL_URL, body, content_type="application/json")
    assert response.status_code == 413
    [error] = response.json()["errors"]
    assert error["extensions"]["code"] == "REQUEST_TOO_LARGE"
    assert str(settings.DATA_UPLOAD_MAX_MEMORY_SIZE) in error["message"]


def test_page_size_above_the_cap_is_a_clear_error(viewer_client):
    too_many = settings.GRAPHQL_MAX_PAGE_SIZE + 1
    errors = graphql_errors(viewer_client, f"{{ flowRuns(first: {too_many}) {{ totalCount }} }}")
    assert errors == [f"Argument 'first' cannot be higher than {settings.GRAPHQL_MAX_PAGE_SIZE}."]


def test_page_size_at_the_cap_is_accepted(viewer_client):
    FlowRunFactory()
    data = graphql_data(viewer_client, f"{{ flowRuns(first: {settings.GRAPHQL_MAX_PAGE_SIZE}) {{ totalCount }} }}")
    assert data["flowRuns"]["totalCount"] == 1


@override_settings(GRAPHQL_INTROSPECTION=False)
def test_introspection_is_refused_when_switched_off(viewer_client):
    errors = graphql_errors(viewer_client, "{ __schema { queryType { name } } }")
    assert "introspection has been disabled" in errors[0]


@override_settings(GRAPHQL_INTROSPECTION=True)
def test_introspection_answers_when_switched_on(viewer_client):
    data = graphql_data(viewer_client, "{ __schema { queryType { name } } }")
    assert data["__schema"]["queryType"]["name"] == "Query"


def test_a_repeated_document_is_validated_once_and_a_refusal_stays_a_refusal(viewer_client):
    """Parsing and validation are cached per document and rule set; the limits still refuse on every request."""
    from strawberry.extensions.validation_cache import _get_validate_cache

    from controlplane.api.extensions import GRAPHQL_DOCUMENT_CACHE_SIZE

    cache = _get_validate_cache(GRAPHQL_DOCUMENT_CACHE_SIZE)
    query = "{ flowRuns(first: 1) { edges { node { name } } } }"
    graphql_data(viewer_client, query)
    hits = cache.cache_info().hits
    graphql_data(viewer_client, query)
    assert cache.cache_info().hits == hits + 1
    for _ in range(2):
        assert "exceeds maximum operation depth" in graphql_errors(viewer_client, _deep_query(20))[0]


def test_switching_introspection_off_applies_to_a_document_already_cached(viewer_client):
    query = "{ __schema { mutationType { name } } }"
    with override_settings(GRAPHQL_INTROSPECTION=True):
        assert graphql_data(viewer_client, query)["__schema"]["mutationType"]["name"] == "Mutation"
    with override_settings(GRAPHQL_INTROSPECTION=False):
        assert "introspection has been disabled" in graphql_errors(viewer_client, query)[0]


def test_operations_over_get_are_refused(viewer_client):
    response = viewer_client.get(GRAPHQL_URL, {"query": "{ me { username } }"}, headers={"accept": "application/json"})
    assert response.status_code == 400
    assert "not allowed when using GET" in response.json()["errors"][0]["message"]


def test_malformed_json_body_is_a_graphql_shaped_400(viewer_client):
    response = viewer_client.post(GRAPHQL_URL, "{not json", content_type="application/json")
    assert response.status_code == 400
    assert response.json()["errors"][0]["message"] == "Unable to parse request body as JSON"


def test_graphiql_is_served_to_logged_in_users_only(viewer_client):
    page = viewer_client.get(GRAPHQL_URL, headers={"accept": "text/html"})
    assert page.status_code == 200
    assert b"graphiql" in page.content.lower()
    anonymous = client_for(None).get(GRAPHQL_URL, headers={"accept": "text/html"})
    assert anonymous.status_code == 302
    assert anonymous["Location"].startswith(settings.LOGIN_URL)


def test_session_request_without_csrf_token_is_refused():
    client = Client(enforce_csrf_checks=True)
    client.force_login(_operator())
    response = post_graphql(client, "{ me { username } }")
    assert response.status_code == 403
    [error] = response.json()["errors"]
    assert error["extensions"]["code"] == "CSRF_FAILED"


def test_session_request_with_csrf_token_is_accepted():
    client = Client(enforce_csrf_checks=True)
    user = _operator()
    client.force_login(user)
    client.get(GRAPHQL_URL, headers={"accept": "text/html"})  # GraphiQL sets the csrftoken cookie
    token = client.cookies["csrftoken"].value
    response = post_graphql(client, "{ me { username } }", X_CSRFTOKEN=token)
    assert response.json() == {"data": {"me": {"username": user.username}}}


def _operator():
    from tests.factories import UserFactory

    return UserFactory(role="operator")


# A malformed relay cursor used to answer with Python's own base64 error text (found by fuzzing).
BAD_CURSORS = ["a", "!!!", "YXJyYXljb25uZWN0aW9uOng=", "Rmxvd1J1bjox", "YXJyYXljb25uZWN0aW9uOi0x"]


@pytest.mark.parametrize("cursor", BAD_CURSORS)
@pytest.mark.parametrize("connection", ["flowRuns", "auditEvents", "workPools", "deployments"])
def test_a_malformed_cursor_is_a_client_error_of_ours(admin_client_role, connection, cursor):
    payload = post_graphql(
        admin_client_role, f"query($c: String!) {{ {connection}(after: $c) {{ totalCount }} }}", {"c": cursor}
    ).json()
    [error] = payload["errors"]
    assert error["message"].startswith("Argument 'after' is not a cursor of this list")
    assert error["extensions"] == {"code": "BAD_CURSOR"}
    assert "base64" not in json.dumps(payload) and "invalid literal" not in json.dumps(payload)


def test_a_cursor_this_api_gave_out_pages_on(viewer_client):
    FlowRunFactory.create_batch(3)
    first = graphql_data(viewer_client, "{ flowRuns(first: 2) { pageInfo { endCursor } } }")["flowRuns"]
    query = "query($c: String!) { flowRuns(first: 2, after: $c) { edges { cursor } } }"
    rest = graphql_data(viewer_client, query, {"c": first["pageInfo"]["endCursor"]})["flowRuns"]["edges"]
    assert len(rest) == 1
    errors = graphql_errors(viewer_client, 'query { flowRuns(before: "a") { totalCount } }')
    assert errors == [errors[0]] and errors[0].startswith("Argument 'before' is not a cursor of this list")
