"""GraphQL read side of the Prefect mirror: flow runs (filtered, ordered, paged), deployments, flows, work pools and
sync status. Everything here reads the mirror; only a run's logs are read live from Prefect, through the service."""

from __future__ import annotations

import enum
import uuid
from datetime import datetime
from typing import Annotated, Any

import strawberry
import strawberry_django
from django.db import connection
from django.db.models import QuerySet
from strawberry import auto, relay
from strawberry.scalars import JSON
from strawberry_django.permissions import HasPerm

from controlplane.graphql import CountedConnection, column_field, model_type
from workflows.models import Deployment, Flow, FlowRun, FlowRunStateChange, StateType, SyncStatus, WorkPool

FlowRunStateType = strawberry.enum(
    enum.Enum("FlowRunStateType", [(state.name, state.value) for state in StateType]),
    name="FlowRunStateType",
    description="Prefect's state types.",
)


def _perm(codename: str) -> HasPerm:
    """A permission check that fails with an error (not an empty result), so a client learns why."""
    return HasPerm(f"workflows.{codename}", fail_silently=False)


@model_type(WorkPool, name="WorkPool")
class WorkPoolNode(relay.Node):
    prefect_id: uuid.UUID
    name: auto
    type: auto
    description: auto
    is_paused: auto
    concurrency_limit: int | None
    status: auto
    deleted_in_prefect: auto


@model_type(Flow, name="Flow")
class FlowNode(relay.Node):
    prefect_id: uuid.UUID
    name: auto
    tags: list[str]
    deleted_in_prefect: auto
    deployments: list[DeploymentNode]


@model_type(Deployment, name="Deployment")
class DeploymentNode(relay.Node):
    prefect_id: uuid.UUID
    name: auto
    flow: FlowNode
    description: auto
    tags: list[str]
    paused: auto
    status: auto
    schedules_summary: auto
    parameter_schema: JSON = column_field(
        field_name="parameter_openapi_schema", description="Prefect's OpenAPI schema of the flow's parameters."
    )
    default_parameters: JSON
    work_pool: WorkPoolNode | None
    work_queue_name: auto
    concurrency_limit: int | None
    deleted_in_prefect: auto

    @strawberry_django.field(
        only=["name", "flow__name"],
        select_related=["flow"],
        description="`flow-name/deployment-name`, as Prefect names it.",
    )
    def full_name(self, root: Deployment) -> str:
        return root.full_name


@model_type(FlowRunStateChange, name="FlowRunStateChange")
class FlowRunStateChangeType:
    from_state_name: auto
    to_state_name: auto
    at: datetime
    message: auto

    from_state_type: FlowRunStateType | None = column_field(blank_as_null=True)  # type: ignore[valid-type]
    to_state_type: FlowRunStateType = column_field(blank_as_null=True)  # type: ignore[valid-type]


@strawberry.type
class FlowRunLog:
    timestamp: datetime
    level: int
    message: str
    task_run_id: uuid.UUID | None


@model_type(FlowRun, name="FlowRun")
class FlowRunNode(relay.Node):
    prefect_id: uuid.UUID
    name: auto
    flow: FlowNode
    deployment: DeploymentNode | None
    work_pool: WorkPoolNode | None
    work_queue_name: auto
    state_type: FlowRunStateType | None = column_field(blank_as_null=True)  # type: ignore[valid-type]
    state_name: auto
    state_timestamp: datetime | None
    state_message: auto
    expected_start_time: datetime | None
    start_time: datetime | None
    end_time: datetime | None
    total_run_time: float = column_field(description="Seconds.")
    run_count: auto
    parameters: JSON
    tags: list[str]
    idempotency_key: auto
    created_by: auto
    deleted_in_prefect: auto
    synced_at: datetime
    state_history: list[FlowRunStateChangeType] = strawberry_django.field(
        field_name="state_changes", description="Every state the run entered, oldest first."
    )

    @strawberry_django.field(only=["state_type"])
    def is_terminal(self, root: FlowRun) -> bool:
        return root.is_terminal

    @strawberry_django.field(
        description="The run's logs, read live from Prefect, oldest first, strictly after the timestamp `after`."
    )
    def logs(
        self, root: FlowRun, info: strawberry.Info, after: datetime | None = None, limit: int = 200
    ) -> list[FlowRunLog]:
        from controlplane.audit import Actor
        from workflows import services

        actor = Actor.from_request(info.context.request)
        records = services.read_run_logs(actor, root, after=after.isoformat() if after else None, limit=limit)
        return [_log_from_prefect(record) for record in records]


def _log_from_prefect(record: dict[str, Any]) -> FlowRunLog:
    return FlowRunLog(
        timestamp=datetime.fromisoformat(record["timestamp"]),
        level=record["level"],
        message=record["message"],
        task_run_id=record.get("task_run_id"),
    )


@model_type(SyncStatus, name="SyncStatus")
class SyncStatusType:
    stream: auto
    last_attempt_at: datetime | None
    last_success_at: datetime | None
    last_error: auto
    last_error_at: datetime | None
    last_duration_seconds: float | None
    last_rows_written: auto
    total_rows_written: int


# --- Filtering and ordering of flow runs ---------------------------------------------------------------------------


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


@strawberry.input
class FlowRunOrder:
    field: FlowRunTimeField = FlowRunTimeField.EXPECTED_START_TIME
    direction: SortDirection = SortDirection.DESC


def filter_flow_runs(runs: QuerySet[FlowRun], run_filter: FlowRunFilter) -> QuerySet[FlowRun]:
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


def find_run(run_id: strawberry.ID) -> FlowRun | None:
    """`run_id` is the Prefect id (what other tools know) or the relay id of a FlowRun node."""
    return find_runs([run_id])[str(run_id)]


def find_runs(run_ids: list[strawberry.ID]) -> dict[str, FlowRun | None]:
    """`find_run` for many ids in at most two queries (Prefect ids, node ids); None for an id naming no run."""
    by_prefect_id: dict[uuid.UUID, str] = {}
    by_pk: dict[str, str] = {}
    for run_id in map(str, run_ids):
        try:
            by_prefect_id[uuid.UUID(run_id)] = run_id
            continue
        except ValueError:
            pass
        try:
            global_id = relay.GlobalID.from_id(run_id)
        except ValueError:
            continue
        if global_id.type_name == "FlowRun" and global_id.node_id.isdigit():
            by_pk[global_id.node_id] = run_id
    found: dict[str, FlowRun | None] = dict.fromkeys(map(str, run_ids))
    runs = FlowRun.objects.select_related("deployment__flow")
    if by_prefect_id:
        found.update({by_prefect_id[run.prefect_id]: run for run in runs.filter(prefect_id__in=by_prefect_id)})
    if by_pk:
        found.update({by_pk[str(run.pk)]: run for run in runs.filter(pk__in=by_pk)})
    return found


@strawberry.type
class WorkflowsQuery:
    @strawberry_django.connection(CountedConnection[FlowRunNode], extensions=[_perm("view_flowrun")])
    def flow_runs(self, filter: FlowRunFilter | None = None, order_by: FlowRunOrder | None = None) -> QuerySet[FlowRun]:
        runs = FlowRun.objects.all()
        if filter:
            runs = filter_flow_runs(runs, filter)
        return order_flow_runs(runs, order_by or FlowRunOrder())

    @strawberry_django.field(extensions=[_perm("view_flowrun")])
    def flow_run(
        self, id: Annotated[strawberry.ID, strawberry.argument(description="Prefect's flow run id, or the node id.")]
    ) -> FlowRunNode | None:
        return find_run(id)

    @strawberry_django.connection(CountedConnection[DeploymentNode], extensions=[_perm("view_deployment")])
    def deployments(self, include_deleted: bool = False) -> QuerySet[Deployment]:
        deployments = Deployment.objects.order_by("flow__name", "name", "id")
        return deployments if include_deleted else deployments.filter(deleted_in_prefect=False)

    @strawberry_django.connection(CountedConnection[FlowNode], extensions=[_perm("view_flow")])
    def flows(self, include_deleted: bool = False) -> QuerySet[Flow]:
        flows = Flow.objects.order_by("name", "id")
        return flows if include_deleted else flows.filter(deleted_in_prefect=False)

    @strawberry_django.connection(CountedConnection[WorkPoolNode], extensions=[_perm("view_workpool")])
    def work_pools(self, include_deleted: bool = False) -> QuerySet[WorkPool]:
        pools = WorkPool.objects.order_by("name", "id")
        return pools if include_deleted else pools.filter(deleted_in_prefect=False)

    @strawberry_django.field(extensions=[_perm("view_syncstatus")])
    def sync_status(self) -> list[SyncStatusType]:
        return SyncStatus.objects.order_by("stream")  # type: ignore[return-value]
