"""Operations on runs: trigger, cancel, retry (single and bulk) and reading a run's logs.

Each operation runs in the same order: permission check → validation → Prefect call → mirror write → audit event,
the last two in one transaction. A refusal or failure is audited too (outcome denied/error) and raised as a
`controlplane.exceptions.ServiceError` with a message fit for the user.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, NoReturn, TypeVar

from django.db import transaction

from controlplane.audit.actor import Actor
from controlplane.audit.chain import record_audit_event
from controlplane.audit.models import AuditOutcome
from controlplane.audit.services import record_denied
from controlplane.exceptions import (
    InvalidInput,
    OperationNotAllowed,
    PermissionDeniedError,
    ServiceError,
    UpstreamUnavailable,
)
from workflows import prefect_api
from workflows.mirror import upsert_flow_runs
from workflows.models import TERMINAL_STATE_TYPES, Deployment, FlowRun, OrchestrationConfig, StateType, WorkPool
from workflows.parameters import NON_FIELD, parameter_errors

TRIGGER, CANCEL, RETRY = "workflows.trigger_run", "workflows.cancel_run", "workflows.retry_run"
VIEW_RUNS = "workflows.view_flowrun"
RETRYABLE_STATE_TYPES = frozenset({StateType.FAILED, StateType.CRASHED, StateType.CANCELLED})
MAX_LOG_PAGE = prefect_api.PAGE_SIZE_LIMIT
Target = TypeVar("Target")


@dataclass(frozen=True)
class ItemResult:
    """The outcome of one item of a bulk operation."""

    target: Any
    ok: bool
    flow_run: FlowRun | None = None
    error: str | None = None


# --- Trigger ------------------------------------------------------------------------------------------------------


def trigger_deployment(
    actor: Actor, deployment: Deployment, parameters: dict[str, Any], idempotency_key: str | None = None
) -> FlowRun:
    """Create a run of `deployment` with `parameters` in Prefect, mirror it, and audit it."""
    audit = _Auditor(actor, "flow_run.trigger", "deployment", deployment.prefect_id)
    audit.before = {"deployment": deployment.full_name, "parameters": parameters}
    audit.require(TRIGGER, f"You are not allowed to trigger runs of {deployment.full_name}.")
    errors = parameter_errors(deployment.parameter_openapi_schema, parameters)
    if errors:
        audit.fail(InvalidInput(f"Invalid parameters for {deployment.full_name}.", errors), outcome="error")
    live = audit.call_prefect(prefect_api.read_deployment, deployment.prefect_id)
    if live.get("paused"):
        audit.fail(OperationNotAllowed(f"Deployment {deployment.full_name} is paused; resume it before triggering."))
    audit.call_prefect(_apply_concurrency_cap, deployment, live)
    payload = audit.call_prefect(
        prefect_api.create_flow_run_from_deployment,
        deployment.prefect_id,
        parameters,
        idempotency_key=idempotency_key,
        rejected=lambda exc: InvalidInput(f"Prefect refused the parameters: {exc}", {NON_FIELD: [str(exc)]}),
    )
    return audit.mirror_and_record(payload, after={"flow_run": payload["id"], "parameters": payload["parameters"]})


def _apply_concurrency_cap(deployment: Deployment, live: dict[str, Any]) -> None:
    """Keep Prefect's own concurrency limit of the deployment (and its work pool) at the configured cap."""
    cap = OrchestrationConfig.load().max_concurrent_runs or None
    if deployment_concurrency_limit(live) != cap:
        prefect_api.set_deployment_concurrency_limit(deployment.prefect_id, cap)
        Deployment.objects.filter(pk=deployment.pk).update(concurrency_limit=cap)
        deployment.concurrency_limit = cap
    pool = deployment.work_pool
    if pool is not None and pool.concurrency_limit != cap:
        prefect_api.set_work_pool_concurrency_limit(pool.name, cap)
        WorkPool.objects.filter(pk=pool.pk).update(concurrency_limit=cap)


def deployment_concurrency_limit(payload: dict[str, Any]) -> int | None:
    """Prefect 3 reports a deployment's limit as `concurrency_limit` or inside `global_concurrency_limit`."""
    limit = payload.get("concurrency_limit")
    if limit is None and isinstance(payload.get("global_concurrency_limit"), dict):
        limit = payload["global_concurrency_limit"].get("limit")
    return limit


def apply_concurrency_cap_everywhere(cap: int | None) -> int:
    """Push a changed cap to every mirrored deployment (and work pool) in Prefect; returns how many were updated.

    Called by `controlplane.services.update_config`, which audits the change itself.
    """
    updated = 0
    with prefect_api.session():
        for deployment in Deployment.objects.filter(deleted_in_prefect=False).select_related("work_pool"):
            try:
                prefect_api.set_deployment_concurrency_limit(deployment.prefect_id, cap)
            except prefect_api.PrefectNotFound:
                continue
            updated += 1
        for pool in WorkPool.objects.filter(deleted_in_prefect=False, deployments__isnull=False).distinct():
            try:
                prefect_api.set_work_pool_concurrency_limit(pool.name, cap)
            except prefect_api.PrefectNotFound:
                continue
    Deployment.objects.filter(deleted_in_prefect=False).update(concurrency_limit=cap)
    WorkPool.objects.filter(deleted_in_prefect=False, deployments__isnull=False).update(concurrency_limit=cap)
    return updated


# --- Cancel and retry ---------------------------------------------------------------------------------------------


def cancel_run(actor: Actor, run: FlowRun) -> FlowRun:
    """Ask Prefect to cancel a run (state CANCELLING); the process watching it stops it and marks it CANCELLED."""
    audit = _Auditor(actor, "flow_run.cancel", "flow_run", run.prefect_id)
    audit.require(CANCEL, f"You are not allowed to cancel run {run.name}.")
    live = audit.call_prefect(prefect_api.read_flow_run, run.prefect_id)
    audit.before = _state_of(live)
    if live["state_type"] in TERMINAL_STATE_TYPES:
        audit.refresh_mirror(live)
        audit.fail(OperationNotAllowed(f"Run {run.name} has already finished ({live['state_name']})."))
    if live["state_type"] == StateType.CANCELLING:
        audit.fail(OperationNotAllowed(f"Run {run.name} is already being cancelled."))
    result = audit.call_prefect(prefect_api.cancel_flow_run, run.prefect_id, f"Cancelled by {actor.label}")
    # A scheduled run has no process to stop: Prefect rejects CANCELLING and sets CANCELLED itself.
    return audit.finish_state_change(run, result, "cancel", done_states={StateType.CANCELLING, StateType.CANCELLED})


def retry_run(actor: Actor, run: FlowRun) -> FlowRun:
    """Reschedule a failed, crashed or cancelled deployment run now; the process serving it runs it again."""
    audit = _Auditor(actor, "flow_run.retry", "flow_run", run.prefect_id)
    audit.require(RETRY, f"You are not allowed to retry run {run.name}.")
    if run.deployment_id is None:
        audit.fail(OperationNotAllowed(f"Run {run.name} is not a deployment run; only deployment runs can be retried."))
    live = audit.call_prefect(prefect_api.read_flow_run, run.prefect_id)
    audit.before = _state_of(live)
    if live["state_type"] not in RETRYABLE_STATE_TYPES:
        audit.refresh_mirror(live)
        audit.fail(
            OperationNotAllowed(
                f"Run {run.name} is {live['state_name']}; only failed, crashed or cancelled runs can be retried."
            )
        )
    result = audit.call_prefect(prefect_api.retry_flow_run, run.prefect_id, f"Retried by {actor.label}")
    return audit.finish_state_change(run, result, "retry", done_states={StateType.SCHEDULED})


def _state_of(payload: dict[str, Any]) -> dict[str, Any]:
    return {"state_type": payload.get("state_type"), "state_name": payload.get("state_name")}


# --- Bulk ---------------------------------------------------------------------------------------------------------


def bulk_trigger(actor: Actor, items: list[tuple[Deployment, dict[str, Any]]]) -> list[ItemResult]:
    """Trigger each (deployment, parameters) pair; one failure does not stop the rest; one audit event each.

    Each result's `target` is the deployment; results are in the order of `items`.
    """
    return _each(items, lambda item: trigger_deployment(actor, item[0], item[1]), target_of=lambda item: item[0])


def bulk_cancel(actor: Actor, runs: Iterable[FlowRun]) -> list[ItemResult]:
    return _each(list(runs), lambda run: cancel_run(actor, run))


def bulk_retry(actor: Actor, runs: Iterable[FlowRun]) -> list[ItemResult]:
    return _each(list(runs), lambda run: retry_run(actor, run))


def _each(
    items: list[Target], operation: Callable[[Target], FlowRun], target_of: Callable[[Target], Any] = lambda item: item
) -> list[ItemResult]:
    results = []
    for item in items:
        try:
            results.append(ItemResult(target=target_of(item), ok=True, flow_run=operation(item)))
        except ServiceError as exc:
            results.append(ItemResult(target=target_of(item), ok=False, error=exc.message))
    return results


# --- Logs ---------------------------------------------------------------------------------------------------------


def read_run_logs(actor: Actor, run: FlowRun, after: str | None = None, limit: int = 200) -> list[dict[str, Any]]:
    """One page of a run's logs, live from Prefect, oldest first, strictly after the ISO timestamp `after`.

    A read: audited only when refused.
    """
    if not actor.has_perm(VIEW_RUNS):
        audit = _Auditor(actor, "flow_run.read_logs", "flow_run", run.prefect_id)
        audit.fail(PermissionDeniedError(f"You are not allowed to read the logs of run {run.name}."))
    if not 1 <= limit <= MAX_LOG_PAGE:
        raise InvalidInput(f"limit must be between 1 and {MAX_LOG_PAGE}.", {"limit": [f"1 to {MAX_LOG_PAGE}"]})
    try:
        return prefect_api.read_flow_run_logs(run.prefect_id, after=after, limit=limit)
    except prefect_api.PrefectUnavailable as exc:
        raise UpstreamUnavailable(str(exc)) from exc
    except prefect_api.PrefectRejected as exc:
        raise InvalidInput(f"Prefect refused the log query: {exc}", {"after": [str(exc)]}) from exc


# --- The audited sequence -----------------------------------------------------------------------------------------


class _Auditor:
    """Carries one operation through its steps and writes its single audit event, whatever the outcome."""

    def __init__(self, actor: Actor, action: str, target_type: str, target_id: Any) -> None:
        self.actor = actor
        self.action = action
        self.target_type = target_type
        self.target_id = str(target_id)
        self.before: Any = None

    def require(self, permission: str, message: str) -> None:
        if not self.actor.has_perm(permission):
            self.fail(PermissionDeniedError(message))

    def fail(self, error: ServiceError, outcome: str = AuditOutcome.DENIED) -> NoReturn:
        """Audit the refusal or failure (in a durable transaction of its own) and raise it."""
        after = {"field_errors": error.field_errors} if isinstance(error, InvalidInput) else None
        record_denied(
            self.actor,
            self.action,
            error.message,
            target_type=self.target_type,
            target_id=self.target_id,
            before=self.before,
            after=after,
            outcome=outcome,
        )
        raise error

    def _record(self, after: Any, **outcome: Any) -> None:
        record_audit_event(
            self.actor,
            self.action,
            target_type=self.target_type,
            target_id=self.target_id,
            before=self.before,
            after=after,
            **outcome,
        )

    def call_prefect(
        self,
        function: Callable[..., Any],
        *args: Any,
        rejected: Callable[[prefect_api.PrefectRejected], ServiceError] | None = None,
        **kwargs: Any,
    ) -> Any:
        try:
            return function(*args, **kwargs)
        except prefect_api.PrefectUnavailable as exc:
            self.fail(UpstreamUnavailable(f"Prefect is unavailable: {exc}"), outcome=AuditOutcome.ERROR)
        except prefect_api.PrefectNotFound as exc:
            self.fail(OperationNotAllowed(f"Not found in Prefect: {exc}"), outcome=AuditOutcome.ERROR)
        except prefect_api.PrefectRejected as exc:
            error = rejected(exc) if rejected else OperationNotAllowed(f"Prefect refused: {exc}")
            self.fail(error, outcome=AuditOutcome.ERROR)

    def refresh_mirror(self, payload: dict[str, Any]) -> None:
        """Bring a stale mirror row up to date with what Prefect just said (before refusing)."""
        upsert_flow_runs([payload])

    def mirror_and_record(self, payload: dict[str, Any], after: Any) -> FlowRun:
        with transaction.atomic(durable=True):
            (row,) = upsert_flow_runs([payload])
            self._record(after)
        return row

    def finish_state_change(
        self, run: FlowRun, result: dict[str, Any], verb: str, done_states: set[StateType]
    ) -> FlowRun:
        """Turn Prefect's orchestration answer into a mirrored run, or an audited refusal.

        Prefect may answer REJECT while putting the run into another state that still does what was asked.
        """
        resulting_state = (result.get("state") or {}).get("type")
        if result.get("status") != "ACCEPT" and resulting_state not in done_states:
            details = (result.get("details") or {}).get("reason") or result.get("status")
            payload = self.call_prefect(prefect_api.read_flow_run, run.prefect_id)
            self.refresh_mirror(payload)
            self.fail(OperationNotAllowed(f"Prefect did not {verb} run {run.name}: {details}."))
        payload = self.call_prefect(prefect_api.read_flow_run, run.prefect_id)
        return self.mirror_and_record(payload, after=_state_of(payload))
