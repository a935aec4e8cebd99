"""The workflow queries of the API: the mirror (runs, deployments, flows, work pools, sync status) and the
orchestration configuration. Reads only: they never call Prefect (a run's logs, a field of `FlowRun`, do)."""

from __future__ import annotations

import uuid
from typing import Annotated

import strawberry
import strawberry_django
from django.db.models import QuerySet
from strawberry import relay
from strawberry_django.permissions import HasPerm

from controlplane.api.fields import CountedConnection
from workflows.configuration import VIEW_CONFIG, current_config
from workflows.graphql.filters import FlowRunFilter, FlowRunOrder, filter_flow_runs, order_flow_runs
from workflows.graphql.types import (
    DeploymentNode,
    FlowNode,
    FlowRunNode,
    OrchestrationConfigType,
    SyncStatusType,
    WorkPoolNode,
    view_perm,
)
from workflows.models import Deployment, Flow, FlowRun, SyncStatus, WorkPool


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
class ConfigQuery:
    @strawberry_django.field(extensions=[HasPerm(VIEW_CONFIG, fail_silently=False)])
    def config(self) -> OrchestrationConfigType:
        return current_config()  # type: ignore[return-value]


@strawberry.type
class WorkflowsQuery:
    @strawberry_django.connection(CountedConnection[FlowRunNode], extensions=[view_perm("view_flowrun")])
    def flow_runs(self, filter: FlowRunFilter | None = None, order_by: FlowRunOrder | None = None) -> QuerySet[FlowRun]:
        runs = filter_flow_runs(FlowRun.objects.all(), filter or FlowRunFilter())
        return order_flow_runs(runs, order_by or FlowRunOrder())

    @strawberry_django.field(extensions=[view_perm("view_flowrun")])
    def flow_run(
        self, id: Annotated[strawberry.ID, strawberry.argument(description="Prefect's flow run id, or the node id.")]
    ) -> FlowRunNode | None:
        return find_run(id)

    @strawberry_django.connection(CountedConnection[DeploymentNode], extensions=[view_perm("view_deployment")])
    def deployments(
        self,
        include_deleted: bool = False,
        category: Annotated[
            str | None,
            strawberry.argument(description="Only deployments of this catalogue category (first tag)."),
        ] = None,
    ) -> QuerySet[Deployment]:
        deployments = Deployment.objects.order_by("flow__name", "name", "id")
        if category:
            deployments = deployments.filter(tags__0=category)
        return deployments if include_deleted else deployments.filter(deleted_in_prefect=False)

    @strawberry_django.connection(CountedConnection[FlowNode], extensions=[view_perm("view_flow")])
    def flows(self, include_deleted: bool = False) -> QuerySet[Flow]:
        flows = Flow.objects.order_by("name", "id")
        return flows if include_deleted else flows.filter(deleted_in_prefect=False)

    @strawberry_django.connection(CountedConnection[WorkPoolNode], extensions=[view_perm("view_workpool")])
    def work_pools(self, include_deleted: bool = False) -> QuerySet[WorkPool]:
        pools = WorkPool.objects.order_by("name", "id")
        return pools if include_deleted else pools.filter(deleted_in_prefect=False)

    @strawberry_django.field(extensions=[view_perm("view_syncstatus")])
    def sync_status(self) -> list[SyncStatusType]:
        return SyncStatus.objects.order_by("stream")  # type: ignore[return-value]
