"""Filtering and ordering of flow runs in GraphQL: inputs, and the querysets they make."""

from __future__ import annotations

import enum
from datetime import datetime

import strawberry
from django.db import connection
from django.db.models import QuerySet

from workflows.graphql.types import FlowRunStateType
from workflows.models import FlowRun


@strawberry.enum(description="A timestamp of a flow run, for ordering and time ranges.")
class FlowRunTimeField(enum.Enum):
    EXPECTED_START_TIME = "expected_start_time"
    START_TIME = "start_time"
    END_TIME = "end_time"


@strawberry.enum
class SortDirection(enum.Enum):
    ASC = "asc"
    DESC = "desc"


@strawberry.input(description="Inclusive bounds on one of the run's timestamps; either bound may be omitted.")
class FlowRunTimeRange:
    field: FlowRunTimeField = FlowRunTimeField.EXPECTED_START_TIME
    after: datetime | None = None
    before: datetime | None = None


@strawberry.input(description="All given conditions must hold.")
class FlowRunFilter:
    state_types: list[FlowRunStateType] | None = None  # type: ignore[valid-type]
    flow_name: str | None = None
    deployment_name: str | None = strawberry.field(
        default=None, description="A deployment's name, or `flow-name/deployment-name`."
    )
    work_pool_name: str | None = None
    tag: str | None = None
    time_range: FlowRunTimeRange | None = None
    name_contains: str | None = strawberry.field(default=None, description="Case-insensitive search in the run name.")
    deleted_in_prefect: bool | None = strawberry.field(
        default=False,
        description="Runs Prefect deleted (ghosts): false (the default) hides them, true lists only them, null both.",
    )


@strawberry.input
class FlowRunOrder:
    field: FlowRunTimeField = FlowRunTimeField.EXPECTED_START_TIME
    direction: SortDirection = SortDirection.DESC


def filter_flow_runs(runs: QuerySet[FlowRun], run_filter: FlowRunFilter) -> QuerySet[FlowRun]:
    if run_filter.deleted_in_prefect is not None:
        runs = runs.filter(deleted_in_prefect=run_filter.deleted_in_prefect)
    if run_filter.state_types:
        runs = runs.filter(state_type__in=[state.value for state in run_filter.state_types])
    if run_filter.flow_name:
        runs = runs.filter(flow__name=run_filter.flow_name)
    if run_filter.deployment_name:
        runs = _filter_by_deployment_name(runs, run_filter.deployment_name)
    if run_filter.work_pool_name:
        runs = runs.filter(work_pool__name=run_filter.work_pool_name)
    if run_filter.tag:
        runs = _filter_by_tag(runs, run_filter.tag)
    if run_filter.time_range:
        runs = _filter_by_time_range(runs, run_filter.time_range)
    if run_filter.name_contains:
        runs = runs.filter(name__icontains=run_filter.name_contains)
    return runs


def _filter_by_deployment_name(runs: QuerySet[FlowRun], name: str) -> QuerySet[FlowRun]:
    flow_name, _, deployment_name = name.rpartition("/")
    runs = runs.filter(deployment__name=deployment_name)
    return runs.filter(deployment__flow__name=flow_name) if flow_name else runs


def _filter_by_tag(runs: QuerySet[FlowRun], tag: str) -> QuerySet[FlowRun]:
    if connection.features.supports_json_field_contains:
        return runs.filter(tags__contains=[tag])
    # SQLite has no JSON containment: match the quoted element in the stored JSON text, then confirm exactly.
    candidates = runs.filter(tags__icontains=f'"{tag}"')
    return candidates.filter(pk__in=[run.pk for run in candidates.only("pk", "tags") if tag in run.tags])


def _filter_by_time_range(runs: QuerySet[FlowRun], time_range: FlowRunTimeRange) -> QuerySet[FlowRun]:
    column = time_range.field.value
    if time_range.after:
        runs = runs.filter(**{f"{column}__gte": time_range.after})
    if time_range.before:
        runs = runs.filter(**{f"{column}__lte": time_range.before})
    return runs


def order_flow_runs(runs: QuerySet[FlowRun], order: FlowRunOrder) -> QuerySet[FlowRun]:
    # The id tie-break makes the order total, which offset-based cursors need to page without gaps or repeats.
    prefix = "-" if order.direction is SortDirection.DESC else ""
    return runs.order_by(f"{prefix}{order.field.value}", f"{prefix}id")
