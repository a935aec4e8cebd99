"""GraphQL mutations on runs. Each translates its input (ids, names, JSON) into mirror rows and calls
`workflows.services`; a refusal comes back as an `OperationInfo` payload, never as a 500."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

import strawberry
from django.conf import settings
from strawberry import relay
from strawberry.scalars import JSON
from strawberry_django.fields.types import OperationInfo

from controlplane.graphql import AuditedHasPerm, actor_of, call_service, validation_error
from workflows import bulk, services
from workflows.models import Deployment, FlowRun
from workflows.schema import FlowRunNode, find_run

FlowRunResult = Annotated[FlowRunNode | OperationInfo, strawberry.union("FlowRunResult")]


@strawberry.type(description="The outcome of one item of a bulk operation.")
class BulkItemResult:
    target: str = strawberry.field(description="The deployment (`flow/deployment`) or run id this item named.")
    ok: bool
    flow_run: FlowRunNode | None = None
    error: str | None = None


@strawberry.type
class BulkResult:
    items: list[BulkItemResult]

    @strawberry.field
    def succeeded(self) -> int:
        return sum(item.ok for item in self.items)

    @strawberry.field
    def failed(self) -> int:
        return sum(not item.ok for item in self.items)


BulkOperationResult = Annotated[BulkResult | OperationInfo, strawberry.union("BulkOperationResult")]


@strawberry.input(description="One run to trigger: the deployment by id or by `flow/deployment` name.")
class TriggerItem:
    deployment_id: strawberry.ID | None = None
    name: str | None = None
    parameters: JSON | None = None


class UnresolvedInput(Exception):
    """An id or name in the input names nothing in the mirror."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


def find_deployment(deployment_id: strawberry.ID | None, name: str | None) -> Deployment:
    if (deployment_id is None) == (name is None):
        raise UnresolvedInput("deploymentId", "Give exactly one of deploymentId or name.")
    deployments = Deployment.objects.select_related("flow", "work_pool").filter(deleted_in_prefect=False)
    if deployment_id is not None:
        found = deployments.filter(**_id_lookup(deployment_id, "Deployment")).first()
        if found is None:
            raise UnresolvedInput("deploymentId", f"No deployment with id {deployment_id}.")
        return found
    flow_name, _, deployment_name = str(name).rpartition("/")
    matches = deployments.filter(name=deployment_name, **({"flow__name": flow_name} if flow_name else {}))
    found_list = list(matches[:2])
    if len(found_list) != 1:
        problem = "No deployment" if not found_list else "More than one deployment"
        raise UnresolvedInput("name", f"{problem} named {name!r}; use `flow-name/deployment-name`.")
    return found_list[0]


def _id_lookup(value: strawberry.ID, type_name: str) -> dict[str, Any]:
    """Prefect's UUID, or the relay node id of the given type."""
    try:
        return {"prefect_id": uuid.UUID(str(value))}
    except ValueError:
        pass
    try:
        global_id = relay.GlobalID.from_id(value)
    except ValueError:
        return {"pk__in": []}
    return {"pk": global_id.node_id} if global_id.type_name == type_name else {"pk__in": []}


def _parameters(value: Any) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise UnresolvedInput("parameters", "parameters must be a JSON object.")
    return value


def _check_bulk_size(count: int) -> None:
    if count > settings.GRAPHQL_MAX_BULK_ITEMS:
        raise UnresolvedInput("items", f"At most {settings.GRAPHQL_MAX_BULK_ITEMS} items per bulk operation.")


def _item(target: str, result: services.ItemResult) -> BulkItemResult:
    return BulkItemResult(target=target, ok=result.ok, flow_run=result.flow_run, error=result.error)  # type: ignore[arg-type]


@strawberry.type
class WorkflowsMutation:
    @strawberry.mutation(
        extensions=[AuditedHasPerm(services.TRIGGER)],
        description="Create a run of a deployment (by id or `flow/deployment` name) with parameters that the "
        "deployment's schema validates. The same idempotencyKey returns the same run instead of a second one.",
    )
    def trigger_deployment(
        self,
        info: strawberry.Info,
        deployment_id: strawberry.ID | None = None,
        name: str | None = None,
        parameters: JSON | None = None,
        idempotency_key: str | None = None,
    ) -> FlowRunResult:
        try:
            deployment = find_deployment(deployment_id, name)
            params = _parameters(parameters)
        except UnresolvedInput as exc:
            return validation_error(exc.field, exc.message)
        return call_service(services.trigger_deployment, actor_of(info), deployment, params, idempotency_key)

    @strawberry.mutation(extensions=[AuditedHasPerm(services.CANCEL)], description="Ask Prefect to cancel a run.")
    def cancel_flow_run(self, info: strawberry.Info, id: strawberry.ID) -> FlowRunResult:
        run = find_run(id)
        if run is None:
            return validation_error("id", f"No flow run with id {id}.")
        return call_service(services.cancel_run, actor_of(info), run)

    @strawberry.mutation(
        extensions=[AuditedHasPerm(services.RETRY)], description="Reschedule a failed, crashed or cancelled run."
    )
    def retry_flow_run(self, info: strawberry.Info, id: strawberry.ID) -> FlowRunResult:
        run = find_run(id)
        if run is None:
            return validation_error("id", f"No flow run with id {id}.")
        return call_service(services.retry_run, actor_of(info), run)

    @strawberry.mutation(
        extensions=[AuditedHasPerm(services.TRIGGER)], description="Trigger several runs; one result per item."
    )
    def bulk_trigger(self, info: strawberry.Info, items: list[TriggerItem]) -> BulkOperationResult:
        try:
            _check_bulk_size(len(items))
        except UnresolvedInput as exc:
            return validation_error(exc.field, exc.message)
        results: list[BulkItemResult | None] = []
        to_trigger: list[tuple[int, Deployment, dict[str, Any]]] = []
        for item in items:
            try:
                deployment = find_deployment(item.deployment_id, item.name)
                to_trigger.append((len(results), deployment, _parameters(item.parameters)))
                results.append(None)
            except UnresolvedInput as exc:
                results.append(BulkItemResult(target=str(item.deployment_id or item.name), ok=False, error=exc.message))
        triggered = bulk.bulk_trigger(actor_of(info), [(d, params) for _, d, params in to_trigger])
        for (position, deployment, _), result in zip(to_trigger, triggered, strict=True):
            results[position] = _item(deployment.full_name, result)
        return BulkResult(items=[r for r in results if r is not None])

    @strawberry.mutation(
        extensions=[AuditedHasPerm(services.CANCEL)], description="Cancel several runs; one result per run."
    )
    def bulk_cancel(self, info: strawberry.Info, ids: list[strawberry.ID]) -> BulkOperationResult:
        try:
            _check_bulk_size(len(ids))
        except UnresolvedInput as exc:
            return validation_error(exc.field, exc.message)
        runs: dict[str, FlowRun | None] = {str(run_id): find_run(run_id) for run_id in ids}
        found = [run for run in runs.values() if run is not None]
        cancelled = {result.target.pk: result for result in bulk.bulk_cancel(actor_of(info), found)}
        items = []
        for run_id, run in runs.items():
            if run is None:
                items.append(BulkItemResult(target=run_id, ok=False, error=f"No flow run with id {run_id}."))
            else:
                items.append(_item(run_id, cancelled[run.pk]))
        return BulkResult(items=items)
