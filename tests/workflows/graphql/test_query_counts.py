"""Nested selections cost a fixed number of SQL queries, whatever the page size (the optimizer, not N+1)."""

from __future__ import annotations

import pytest
from django.test import RequestFactory
from strawberry.django.context import StrawberryDjangoContext

from controlplane.api.schema import schema
from tests.factories import DeploymentFactory, FlowRunFactory, UserFactory
from tests.graphql_client import graphql_data
from workflows.models import FlowRunStateChange, StateType

pytestmark = pytest.mark.django_db

RUNS_WITH_RELATIONS = """
query Runs($first: Int!) {
  flowRuns(first: $first) {
    totalCount
    edges { node {
      name stateType
      flow { name }
      deployment { name fullName workPool { name } }
      workPool { name type }
    } }
  }
}
"""

RUNS_WITH_STATE_HISTORY = """
query Runs($first: Int!) {
  flowRuns(first: $first) {
    edges { node { name flow { name } stateHistory { toStateType at } } }
  }
}
"""


@pytest.fixture
def many_runs() -> None:
    # Several deployments (each with its own flow and work pool), so related rows really differ between runs.
    deployments = DeploymentFactory.create_batch(12)
    runs = [FlowRunFactory(deployment=deployments[i % len(deployments)]) for i in range(120)]
    FlowRunStateChange.objects.bulk_create(
        FlowRunStateChange(flow_run=run, to_state_type=state, at=run.expected_start_time)
        for run in runs
        for state in (StateType.SCHEDULED, StateType.RUNNING, StateType.COMPLETED)
    )


def _execute(query: str, first: int, user) -> dict:
    request = RequestFactory().post("/graphql/")
    request.user = user
    result = schema.execute_sync(
        query, variable_values={"first": first}, context_value=StrawberryDjangoContext(request=request, response=None)
    )
    assert result.errors is None, result.errors
    return result.data


@pytest.fixture
def viewer_with_loaded_permissions():
    """A viewer whose permission cache is filled, so the counts below are the query's own cost."""
    user = UserFactory(role="viewer")
    user.get_all_permissions()
    return user


@pytest.mark.parametrize("first", [10, 100])
def test_runs_with_flow_deployment_and_work_pool_cost_at_most_four_queries(
    many_runs, first, viewer_with_loaded_permissions, django_assert_max_num_queries
):
    with django_assert_max_num_queries(4):
        data = _execute(RUNS_WITH_RELATIONS, first, viewer_with_loaded_permissions)
    assert len(data["flowRuns"]["edges"]) == first
    assert data["flowRuns"]["totalCount"] == 120


@pytest.mark.parametrize("first", [10, 100])
def test_runs_with_state_history_cost_at_most_four_queries(
    many_runs, first, viewer_with_loaded_permissions, django_assert_max_num_queries
):
    with django_assert_max_num_queries(4):
        data = _execute(RUNS_WITH_STATE_HISTORY, first, viewer_with_loaded_permissions)
    edges = data["flowRuns"]["edges"]
    assert len(edges) == first
    assert all(len(edge["node"]["stateHistory"]) == 3 for edge in edges)


def test_whole_http_request_costs_the_same_for_ten_and_a_hundred_runs(many_runs, viewer_client):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    graphql_data(viewer_client, RUNS_WITH_RELATIONS, {"first": 1})  # reads the user's permissions into the cache
    counts = {}
    for first in (10, 100):
        with CaptureQueriesContext(connection) as queries:
            graphql_data(viewer_client, RUNS_WITH_RELATIONS, {"first": first})
        counts[first] = len(queries)
    assert counts[10] == counts[100], counts
