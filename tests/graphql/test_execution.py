"""The fast leaf executor returns exactly what graphql-core's own executor returns — data and errors — and really
takes its fast path for a page of runs."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
import strawberry
from django.test import RequestFactory
from django.utils import timezone
from strawberry.django.context import StrawberryDjangoContext
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext

from controlplane.graphql_execution import FastLeafExecutor
from controlplane.schema import schema
from tests.factories import DeploymentFactory, FlowRunFactory, UserFactory
from workflows.models import StateType

RICH_PAGE = """
query Page($first: Int!, $withTags: Boolean!) {
  flowRuns(first: $first) {
    totalCount
    pageInfo { hasNextPage endCursor }
    edges {
      cursor
      node {
        __typename id prefectId name runName: name stateType stateName stateTimestamp stateMessage
        expectedStartTime startTime endTime totalRunTime runCount parameters tags @include(if: $withTags)
        idempotencyKey createdBy deletedInPrefect syncedAt isTerminal
        ...Refs
        deployment { __typename name fullName paused status parameterSchema tags workPool { name isPaused } }
      }
    }
  }
}
fragment Refs on FlowRun {
  flow { name tags deletedInPrefect }
  workPool { name type concurrencyLimit @skip(if: $withTags) status }
}
"""


def _run(query: str, variables: dict[str, Any], executor: type, user) -> Any:
    request = RequestFactory().post("/graphql/")
    request.user = user
    previous = schema.execution_context_class
    schema.execution_context_class = executor
    try:
        return schema.execute_sync(
            query, variable_values=variables, context_value=StrawberryDjangoContext(request=request, response=None)
        )
    finally:
        schema.execution_context_class = previous


@pytest.fixture
def varied_runs(db) -> None:
    """Runs that differ in every way a leaf can: nulls, empty and full lists and JSON, each state type, no
    deployment or work pool."""
    deployments = DeploymentFactory.create_batch(3)
    now = timezone.now()
    for index, state in enumerate(StateType):
        FlowRunFactory(
            deployment=deployments[index % 3] if index % 4 else None,
            state_type=state,
            state_name=state.label,
            tags=[f"t{index}", "shared"] if index % 2 else [],
            parameters={"n": index, "nested": {"ok": index % 2 == 0}} if index % 3 else {},
            start_time=None if index % 5 == 0 else now - timedelta(minutes=index),
            end_time=None if index % 5 == 0 else now,
            total_run_time=index * 1.5,
        )
    FlowRunFactory(state_type="", state_name="")  # Prefect sent no state: the enum reads it as null


@pytest.mark.django_db
def test_a_run_without_a_state_type_reads_as_null_and_others_as_their_enum_value(varied_runs):
    result = _run(RICH_PAGE, {"first": 50, "withTags": False}, FastLeafExecutor, UserFactory(role="viewer"))
    assert result.errors is None
    state_types = sorted(str(edge["node"]["stateType"]) for edge in result.data["flowRuns"]["edges"])
    assert state_types == sorted([*(state.name for state in StateType), "None"])


@pytest.mark.django_db
@pytest.mark.parametrize("with_tags", [True, False])
def test_a_rich_page_is_the_same_as_graphql_cores_own_result(varied_runs, with_tags):
    user = UserFactory(role="viewer")
    variables = {"first": 50, "withTags": with_tags}
    ours = _run(RICH_PAGE, variables, FastLeafExecutor, user)
    reference = _run(RICH_PAGE, variables, StrawberryGraphQLCoreExecutionContext, user)
    assert ours.errors is None and reference.errors is None, (ours.errors, reference.errors)
    assert ours.data == reference.data
    edges = ours.data["flowRuns"]["edges"]
    assert len(edges) == len(StateType) + 1
    assert list(edges[0]["node"])[:4] == ["__typename", "id", "prefectId", "name"]  # selection order kept
    assert ("tags" in edges[0]["node"]) is with_tags


def _resolve_infos_built(executor: type, user) -> int:
    built = {"count": 0}
    original = executor.build_resolve_info

    def counting(self, *args):
        built["count"] += 1
        return original(self, *args)

    executor.build_resolve_info = counting
    try:
        result = _run(RICH_PAGE, {"first": 50, "withTags": True}, executor, user)
    finally:
        executor.build_resolve_info = original
    assert result.errors is None
    return built["count"]


class CountedStandardExecutor(StrawberryGraphQLCoreExecutionContext):
    pass


class CountedFastExecutor(FastLeafExecutor):
    pass


def test_a_page_of_runs_really_skips_graphql_cores_per_field_work(varied_runs):
    """graphql-core builds a resolve-info object for each field it executes; the fast executor only lets it execute
    the fields with resolvers (id, stateType, isTerminal, fullName) and the objects holding them."""
    user = UserFactory(role="viewer")
    standard = _resolve_infos_built(CountedStandardExecutor, user)
    fast = _resolve_infos_built(CountedFastExecutor, user)
    runs = len(StateType) + 1
    assert standard >= 30 * runs, standard
    assert fast <= 4 + 6 * runs, (fast, standard)


# --- errors: the same as graphql-core's, on a schema whose sources can break every rule -------------------------------


@dataclass
class Owner:
    name: Any


@dataclass
class Item:
    name: Any
    count: Any
    labels: Any
    owner: Any = None
    backup_owner: Any = None


@strawberry.type
class OwnerType:
    name: str


@strawberry.type
class ItemType:
    name: str
    count: int | None
    labels: list[str]
    owner: OwnerType
    backup_owner: OwnerType | None


def _owned(name: Any = "fine", **values: Any) -> Item:
    return Item(**{"name": name, "count": 1, "labels": ["a"], "owner": Owner("ann"), **values})


BROKEN_ITEMS = [
    _owned(backup_owner=Owner("bob")),
    _owned(None),  # null in a non-null field
    _owned("bad count", count="not a number"),  # a value Int refuses
    _owned("null label", labels=["c", None]),  # null item in a list of non-null
    _owned("labels not a list", labels=5),
    _owned("no owner", owner=None),  # null non-null object
    _owned("owner without name", owner=Owner(None)),  # null inside a nested object
    _owned("nullable owner without name", backup_owner=Owner(None)),  # ... of a nullable one: it becomes null
]


@strawberry.type
class ItemQuery:
    @strawberry.field
    def items(self) -> list[ItemType | None]:
        return BROKEN_ITEMS  # type: ignore[return-value]


def _plain_result(executor: type) -> Any:
    plain = strawberry.Schema(query=ItemQuery, execution_context_class=executor)
    return plain.execute_sync("{ items { __typename name count labels owner { name } backupOwner { name } } }")


def test_broken_values_give_graphql_cores_own_errors_and_partial_data():
    ours, reference = _plain_result(FastLeafExecutor), _plain_result(StrawberryGraphQLCoreExecutionContext)
    assert ours.data == reference.data
    assert ours.data["items"][0] == {
        "__typename": "ItemType", "name": "fine", "count": 1, "labels": ["a"], "owner": {"name": "ann"},
        "backupOwner": {"name": "bob"},
    }  # fmt: skip
    assert [(e.message, e.path) for e in ours.errors] == [(e.message, e.path) for e in reference.errors]
    assert len(ours.errors) == 7
