"""GraphQL mutations of the workflows app: operations on runs, and the configuration. Each translates its input
(ids, names, JSON) into mirror rows and calls `workflows.services` or `workflows.configuration`; a refusal comes back
as an `OperationInfo` payload, never as a 500."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Annotated, Any

import strawberry
from django.conf import settings
from strawberry import relay
from strawberry.scalars import JSON
from strawberry_django.fields.types import OperationInfo

from controlplane.api.errors import AuditedHasPerm, actor_of, call_service, validation_error
from workflows import bulk, bulk_jobs, configuration, services
from workflows.graphql.bulk import BulkItemResult, BulkOperationNode, BulkOperationResult, BulkResult
from workflows.graphql.queries import find_run, find_runs
from workflows.graphql.types import FlowRunNode, OrchestrationConfigType
from workflows.models import BulkOperation, Deployment

FlowRunResult = Annotated[FlowRunNode | OperationInfo, strawberry.union("FlowRunResult")]
ConfigResult = Annotated[OrchestrationConfigType | OperationInfo, strawberry.union("ConfigResult")]


@strawberry.input(description="Only the settings given are changed.")
class ConfigChanges:
    max_concurrent_runs: int | None = strawberry.UNSET
    retry_attempts: int | None = strawberry.UNSET
    health_check_interval_seconds: int | None = strawberry.UNSET
    auto_recovery_enabled: bool | None = strawberry.UNSET
    monitoring_enabled: bool | None = strawberry.UNSET
    default_timeout_seconds: int | None = strawberry.UNSET


@strawberry.type
class ConfigMutation:
    @strawberry.mutation(extensions=[AuditedHasPerm(configuration.CHANGE_CONFIG)])
    def update_config(self, info: strawberry.Info, changes: ConfigChanges) -> ConfigResult:
        given = {name: value for name, value in vars(changes).items() if value is not strawberry.UNSET}
        return call_service(configuration.update_config, actor_of(info), given)


@strawberry.input(description="One run to trigger: the deployment by id or by `flow/deployment` name.")
class TriggerItem:
    deployment_id: strawberry.ID | None = None
    name: str | None = None
    parameters: JSON | None = None
    idempotency_key: str | None = strawberry.field(
        default=None, description="The same key twice returns the run created the first time instead of a second."
    )


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


def _bulk_description(verb: str, item: str) -> str:
    return (
        f"{verb} several runs: one result per {item}, or, above the synchronous limit, a background BulkOperation "
        "to follow with `bulkOperation(id)`."
    )


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
        extensions=[AuditedHasPerm(services.TRIGGER)], description=_bulk_description("Trigger", "item")
    )
    def bulk_trigger(self, info: strawberry.Info, items: list[TriggerItem]) -> BulkOperationResult:
        try:
            _check_bulk_size(len(items))
        except UnresolvedInput as exc:
            return validation_error(exc.field, exc.message)
        resolved = [_resolved_trigger(item) for item in items]
        if len(items) > settings.BULK_SYNC_MAX_ITEMS:
            return _submitted(info, BulkOperation.Kind.TRIGGER, [job_item for job_item, _ in resolved])
        to_trigger = [(position, found) for position, (_, found) in enumerate(resolved) if found is not None]
        triggered = bulk.bulk_trigger(actor_of(info), [found for _, found in to_trigger])
        results = [_unresolved(job_item) for job_item, _ in resolved]
        for (position, (deployment, _, _)), result in zip(to_trigger, triggered, strict=True):
            results[position] = _item(deployment.full_name, result)
        return BulkResult(items=results)

    @strawberry.mutation(extensions=[AuditedHasPerm(services.CANCEL)], description=_bulk_description("Cancel", "run"))
    def bulk_cancel(self, info: strawberry.Info, ids: list[strawberry.ID]) -> BulkOperationResult:
        return _bulk_on_runs(info, ids, BulkOperation.Kind.CANCEL, bulk.bulk_cancel)

    @strawberry.mutation(extensions=[AuditedHasPerm(services.RETRY)], description=_bulk_description("Retry", "run"))
    def bulk_retry(self, info: strawberry.Info, ids: list[strawberry.ID]) -> BulkOperationResult:
        return _bulk_on_runs(info, ids, BulkOperation.Kind.RETRY, bulk.bulk_retry)


def _resolved_trigger(item: TriggerItem) -> tuple[bulk_jobs.Item, bulk.TriggerItem | None]:
    """The job item of a trigger input, and the service's input when it names a deployment."""
    target = str(item.deployment_id or item.name)
    try:
        deployment = find_deployment(item.deployment_id, item.name)
        parameters = _parameters(item.parameters)
    except UnresolvedInput as exc:
        return bulk_jobs.trigger_item(target, None, {}, exc.message), None
    job_item = bulk_jobs.trigger_item(
        deployment.full_name, deployment, parameters, idempotency_key=item.idempotency_key
    )
    return job_item, (deployment, parameters, item.idempotency_key)


def _bulk_on_runs(
    info: strawberry.Info, ids: list[strawberry.ID], kind: str, operation: Callable[..., list[services.ItemResult]]
) -> BulkOperationResult:
    try:
        _check_bulk_size(len(ids))
    except UnresolvedInput as exc:
        return validation_error(exc.field, exc.message)
    by_id = find_runs(ids)
    runs = [(str(run_id), by_id[str(run_id)]) for run_id in ids]
    if len(ids) > settings.BULK_SYNC_MAX_ITEMS:
        job_items = [
            bulk_jobs.run_item(target, run, None if run else f"No flow run with id {target}.") for target, run in runs
        ]
        return _submitted(info, kind, job_items)
    found = [run for _, run in runs if run is not None]
    done = iter(operation(actor_of(info), found))
    items = [
        _item(target, next(done)) if run is not None
        else BulkItemResult(target=target, ok=False, error=f"No flow run with id {target}.")
        for target, run in runs
    ]  # fmt: skip
    return BulkResult(items=items)


def _submitted(info: strawberry.Info, kind: str, job_items: list[bulk_jobs.Item]) -> BulkOperationResult:
    result = call_service(bulk_jobs.submit_bulk_operation, actor_of(info), kind, job_items)
    return result if isinstance(result, OperationInfo) else BulkOperationNode.of(result)


def _unresolved(job_item: bulk_jobs.Item) -> BulkItemResult:
    return BulkItemResult(target=job_item["target"], ok=False, error=job_item["error"])
