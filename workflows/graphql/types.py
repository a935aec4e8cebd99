"""GraphQL types of the workflows app: the Prefect mirror (flow runs, deployments, flows, work pools, sync status)
and the orchestration configuration. Everything here reads the mirror; only a run's logs are read live from Prefect,
through the service."""

from __future__ import annotations

import enum
import uuid
from datetime import datetime
from typing import Any

import strawberry
import strawberry_django
from strawberry import auto, relay
from strawberry.scalars import JSON
from strawberry_django.permissions import HasPerm

from controlplane.api.fields import column_field, model_type
from workflows.models import (
    Deployment,
    Flow,
    FlowRun,
    FlowRunStateChange,
    OrchestrationConfig,
    StateType,
    SyncStatus,
    WorkPool,
)

FlowRunStateType = strawberry.enum(
    enum.Enum("FlowRunStateType", [(state.name, state.value) for state in StateType]),
    name="FlowRunStateType",
    description="Prefect's state types.",
)


def view_perm(codename: str) -> HasPerm:
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

    @strawberry_django.field(only=["tags"], description="The catalogue's category: the deployment's first tag.")
    def category(self, root: Deployment) -> str:
        return root.category


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
        from controlplane.audit.actor import Actor
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


@model_type(OrchestrationConfig, name="OrchestrationConfig")
class OrchestrationConfigType:
    max_concurrent_runs: auto
    retry_attempts: auto
    health_check_interval_seconds: auto
    auto_recovery_enabled: auto
    monitoring_enabled: auto
    default_timeout_seconds: auto
    updated_at: datetime | None
