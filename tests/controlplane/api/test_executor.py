"""The fast leaf executor returns exactly what graphql-core's own executor returns — data and errors — and really
takes its fast path for a page of runs."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
import strawberry
from django.conf import settings
from django.test import RequestFactory
from django.utils import timezone
from strawberry.django.context import StrawberryDjangoContext
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext

from controlplane.api import executor as executor_module
from controlplane.api.executor import FastLeafExecutor, internals_available
from controlplane.api.schema import build_schema, schema
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


def _calls_of(method: str, executor: type, user, query: str = RICH_PAGE) -> int:
    """How often graphql-core's `method` ran (resolve infos built, values completed) executing `query`."""
    calls = {"count": 0}
    original = getattr(executor, method)

    def counting(self, *args):
        calls["count"] += 1
        return original(self, *args)

    setattr(executor, method, counting)
    try:
        result = _run(query, {"first": 50, "withTags": True}, executor, user)
    finally:
        setattr(executor, method, original)
    assert result.errors is None
    return calls["count"]


def _resolve_infos_built(executor: type, user, query: str = RICH_PAGE) -> int:
    return _calls_of("build_resolve_info", executor, user, query)


class CountedStandardExecutor(StrawberryGraphQLCoreExecutionContext):
    pass


class CountedFastExecutor(FastLeafExecutor):
    pass


needs_fast_fields = pytest.mark.skipif(
    not settings.GRAPHQL_FAST_EXECUTOR,
    reason="GRAPHQL_FAST_EXECUTOR=false: the types use strawberry-django's own fields, which the fast path never takes",
)


@needs_fast_fields
def test_a_page_of_runs_really_skips_graphql_cores_per_field_work(varied_runs):
    """graphql-core builds a resolve-info object for each field it executes; the fast executor only lets it execute
    the fields with resolvers (id, stateType, isTerminal, fullName) and the objects holding them."""
    user = UserFactory(role="viewer")
    standard = _resolve_infos_built(CountedStandardExecutor, user)
    fast = _resolve_infos_built(CountedFastExecutor, user)
    runs = len(StateType) + 1
    assert standard >= 30 * runs, standard
    assert fast <= 4 + 6 * runs, (fast, standard)


PLAIN_PAGE = """
query Plain($first: Int!, $withTags: Boolean!) {
  flowRuns(first: $first) {
    edges { cursor node {
      prefectId name stateType stateName expectedStartTime startTime endTime totalRunTime tags @include(if: $withTags)
      flow { name } deployment { name workPool { name } } workPool { name type }
    } }
  }
}
"""


@needs_fast_fields
def test_a_page_of_plain_fields_is_completed_without_graphql_core_per_run(varied_runs):
    """With nothing but columns under `edges`, the whole list — edges, nodes and their joined rows — is completed
    by the fast path: graphql-core builds resolve infos and completes values for the root field only, however many
    runs there are."""
    user = UserFactory(role="viewer")
    variables = {"first": 50, "withTags": True}
    ours = _run(PLAIN_PAGE, variables, FastLeafExecutor, user)
    reference = _run(PLAIN_PAGE, variables, StrawberryGraphQLCoreExecutionContext, user)
    assert ours.errors is None and ours.data == reference.data
    assert len(ours.data["flowRuns"]["edges"]) == len(StateType) + 1
    assert _resolve_infos_built(CountedFastExecutor, user, PLAIN_PAGE) <= 2
    assert _resolve_infos_built(CountedStandardExecutor, user, PLAIN_PAGE) >= 15 * (len(StateType) + 1)
    assert _calls_of("complete_value", CountedFastExecutor, user, PLAIN_PAGE) <= 2
    assert _calls_of("complete_value", CountedStandardExecutor, user, PLAIN_PAGE) >= 15 * (len(StateType) + 1)


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
    co_owners: Any = ()


@dataclass
class Listing:
    items: Any


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
    co_owners: list[OwnerType]


@strawberry.type
class ListingType:
    items: list[ItemType | None]  # a plain attribute: the fast path completes the whole list, or none of it


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
    _owned("co-owners", co_owners=[Owner("cy"), Owner("di")]),
    _owned("null co-owner", co_owners=[Owner("cy"), None]),  # null item in a list of non-null objects
    _owned("co-owner without name", co_owners=[Owner(None)]),  # null inside an object inside a list
    _owned("co-owners not a list", co_owners=5),
    None,  # a null item of a list of nullable objects
]


@strawberry.type
class ItemQuery:
    @strawberry.field
    def items(self) -> list[ItemType | None]:
        return BROKEN_ITEMS  # type: ignore[return-value]

    @strawberry.field
    def listings(self) -> list[ListingType]:
        fine = [item for item in BROKEN_ITEMS if item is None or item.name == "fine"]
        return [Listing(fine), Listing(BROKEN_ITEMS)]  # type: ignore[list-item]


ITEM_FIELDS = "__typename name count labels owner { name } backupOwner { name }"


def _plain_result(executor: type, query: str = f"{{ items {{ {ITEM_FIELDS} }} }}") -> Any:
    plain = strawberry.Schema(query=ItemQuery, execution_context_class=executor)
    return plain.execute_sync(query)


def test_broken_values_give_graphql_cores_own_errors_and_partial_data():
    ours, reference = _plain_result(FastLeafExecutor), _plain_result(StrawberryGraphQLCoreExecutionContext)
    assert ours.data == reference.data
    assert ours.data["items"][0] == {
        "__typename": "ItemType", "name": "fine", "count": 1, "labels": ["a"], "owner": {"name": "ann"},
        "backupOwner": {"name": "bob"},
    }  # fmt: skip
    assert [(e.message, e.path) for e in ours.errors] == [(e.message, e.path) for e in reference.errors]
    assert len(ours.errors) == 7


def test_broken_values_in_lists_of_objects_give_graphql_cores_own_errors():
    query = f"{{ items {{ name coOwners {{ name }} }} listings {{ items {{ {ITEM_FIELDS} coOwners {{ name }} }} }} }}"
    ours = _plain_result(FastLeafExecutor, query)
    reference = _plain_result(StrawberryGraphQLCoreExecutionContext, query)
    assert ours.data == reference.data
    assert [(e.message, e.path) for e in ours.errors] == [(e.message, e.path) for e in reference.errors]
    fine_listing = ours.data["listings"][0]["items"]
    assert fine_listing[-1] is None and fine_listing[0]["owner"] == {"name": "ann"}
    assert {"name": "co-owners", "coOwners": [{"name": "cy"}, {"name": "di"}]} in ours.data["items"]
    assert len(ours.errors) >= 10


# --- The switch back to strawberry's standard execution -------------------------------------------------------------


def test_the_pinned_graphql_core_and_strawberry_have_what_the_fast_executor_relies_on():
    assert internals_available()
    assert build_schema(fast_executor=True).execution_context_class is FastLeafExecutor


def test_the_switch_off_builds_the_schema_with_strawberrys_standard_executor(varied_runs):
    stock = build_schema(fast_executor=False)
    assert stock.execution_context_class is StrawberryGraphQLCoreExecutionContext
    request = RequestFactory().post("/graphql/")
    request.user = UserFactory(role="viewer")
    context = StrawberryDjangoContext(request=request, response=None)
    result = stock.execute_sync(RICH_PAGE, variable_values={"first": 50, "withTags": True}, context_value=context)
    reference = _run(RICH_PAGE, {"first": 50, "withTags": True}, StrawberryGraphQLCoreExecutionContext, request.user)
    assert result.errors is None and result.data == reference.data


def test_a_library_that_changed_shape_falls_back_to_the_standard_executor(monkeypatch, caplog):
    monkeypatch.setattr(executor_module, "_EXECUTE_FIELDS_PARAMETERS", ["self", "something", "else"])
    assert not internals_available()
    assert build_schema(fast_executor=True).execution_context_class is StrawberryGraphQLCoreExecutionContext
    assert "fast executor is off" in caplog.text
