"""Operations on runs: trigger, cancel, retry (single and bulk) and reading a run's logs.

Each operation runs in the same order: permission check → validation → Prefect call → mirror write → audit event,
the last two in one transaction. A refusal or failure is audited too (outcome denied/error) and raised as a
`controlplane.exceptions.ServiceError` with a message fit for the user.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from controlplane.audit.actor import Actor
from controlplane.exceptions import (
    InvalidInput,
    OperationNotAllowed,
    PermissionDeniedError,
    ServiceError,
    UpstreamUnavailable,
)
from workflows import prefect_api
from workflows.auditor import Auditor
from workflows.models import TERMINAL_STATE_TYPES, Deployment, FlowRun, OrchestrationConfig, StateType, WorkPool
from workflows.parameters import NON_FIELD, parameter_errors

TRIGGER, CANCEL, RETRY = "workflows.trigger_run", "workflows.cancel_run", "workflows.retry_run"
VIEW_RUNS = "workflows.view_flowrun"
RETRYABLE_STATE_TYPES = frozenset({StateType.FAILED, StateType.CRASHED, StateType.CANCELLED})
MAX_LOG_PAGE = prefect_api.PAGE_SIZE_LIMIT


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
    """Create a run of `deployment` with `parameters` in Prefect, mirror it, and audit it.

    One Prefect call: `create_flow_run`, whose answer is the whole new run, mirrored as is. Prefect itself creates
    runs of a paused deployment, so the pause is checked here, on the mirror: the listener applies Prefect's
    `prefect.deployment.*` events within about a second of a pause (the sync within its interval), and a deployment
    the mirror says is paused is asked about again (it may have been resumed since). The concurrency cap is written
    to Prefect only when the mirror's limit differs. With the same idempotency key Prefect answers the run it
    already created, so a client retrying after a timeout never makes a second one.
    """
    audit = start_trigger(actor, deployment, parameters)
    check_trigger(audit, deployment, parameters)
    config = OrchestrationConfig.load()
    audit.call_prefect(check_deployment_mirrored, deployment, config)
    create_run(audit, deployment, parameters, idempotency_key, triggered_run_retry_policy(config))
    return audit.commit()


# Seconds between the automatic retries of a triggered run that failed.
TRIGGERED_RUN_RETRY_DELAY_SECONDS = 10


def triggered_run_retry_policy(config: OrchestrationConfig | None = None) -> tuple[int, int]:
    """(retries, delay) every run triggered here carries: the configuration's retry attempts."""
    return (config or OrchestrationConfig.load()).retry_attempts, TRIGGERED_RUN_RETRY_DELAY_SECONDS


def _parameters_refused(exc: prefect_api.PrefectRejected) -> ServiceError:
    return InvalidInput(f"Prefect refused the parameters: {exc}", {NON_FIELD: [str(exc)]})


def check_deployment_mirrored(deployment: Deployment, config: OrchestrationConfig) -> None:
    """Refuse a deployment that is paused (asking Prefect when the mirror says so: it may have been resumed since
    the last sync); bring Prefect's limit to the cap when the mirror's differs."""
    if deployment.paused:
        if prefect_api.read_deployment(deployment.prefect_id).get("paused"):
            raise _paused(deployment)
        Deployment.objects.filter(pk=deployment.pk).update(paused=False)
        deployment.paused = False
    _apply_concurrency_cap(deployment, {"concurrency_limit": deployment.concurrency_limit}, config)


def _paused(deployment: Deployment) -> OperationNotAllowed:
    return OperationNotAllowed(f"Deployment {deployment.full_name} is paused; resume it before triggering.")


def start_trigger(actor: Actor, deployment: Deployment, parameters: dict[str, Any], deferred: bool = False) -> Auditor:
    audit = Auditor(actor, "flow_run.trigger", "deployment", deployment.prefect_id, deferred=deferred)
    audit.before = {"deployment": deployment.full_name, "parameters": parameters}
    return audit


def check_trigger(audit: Auditor, deployment: Deployment, parameters: dict[str, Any]) -> None:
    """The permission check and parameter validation of a trigger, before anything is asked of Prefect."""
    audit.require(TRIGGER, f"You are not allowed to trigger runs of {deployment.full_name}.")
    errors = parameter_errors(deployment.parameter_openapi_schema, parameters)
    if errors:
        audit.fail(InvalidInput(f"Invalid parameters for {deployment.full_name}.", errors), outcome="error")


def check_deployment_live(deployment: Deployment) -> None:
    """Refuse a paused deployment (as Prefect has it now) and keep its concurrency limit at the configured cap."""
    live = prefect_api.read_deployment(deployment.prefect_id)
    if live.get("paused"):
        raise _paused(deployment)
    _apply_concurrency_cap(deployment, live)


def create_run(
    audit: Auditor,
    deployment: Deployment,
    parameters: dict[str, Any],
    idempotency_key: str | None,
    retry_policy: tuple[int, int],
) -> None:
    """Create the run in Prefect and queue its mirror row and audit record (no database access here)."""
    run, created = audit.call_prefect(
        prefect_api.create_or_find_flow_run,
        deployment.prefect_id,
        parameters,
        idempotency_key,
        retry_policy=retry_policy,
        rejected=_parameters_refused,
    )
    audit.mirror_and_record(
        run,
        after={"flow_run": run["id"], "parameters": run["parameters"]},
        new=created,
        deployment=deployment,
    )


def _apply_concurrency_cap(
    deployment: Deployment, live: dict[str, Any], config: OrchestrationConfig | None = None
) -> None:
    """Keep Prefect's own concurrency limit of the deployment (and its work pool) at the configured cap."""
    cap = (config or OrchestrationConfig.load()).max_concurrent_runs or None
    if deployment_concurrency_limit(live) != cap:
        prefect_api.set_deployment_concurrency_limit(deployment.prefect_id, cap)
        Deployment.objects.filter(pk=deployment.pk).update(concurrency_limit=cap)
        deployment.concurrency_limit = cap
    pool = deployment.work_pool
    if pool is not None and pool.concurrency_limit != cap:
        prefect_api.set_work_pool_concurrency_limit(pool.name, cap)
        WorkPool.objects.filter(pk=pool.pk).update(concurrency_limit=cap)
        pool.concurrency_limit = cap


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


def reapply_lost_concurrency_cap() -> int:
    """Put the saved cap back on the mirrored deployments and work pools whose Prefect limit differs (Prefect
    restarted with a fresh database, or `serve()` re-created its deployments); returns how many were fixed. Called
    by the sync (so within one sync interval of the stack starting); nothing to do before an admin saved the
    configuration."""
    config = OrchestrationConfig.objects.filter(pk=1).first()
    if config is None:
        return 0
    cap = config.max_concurrent_runs or None
    fixed = 0
    with prefect_api.session():
        for deployment in Deployment.objects.filter(deleted_in_prefect=False).exclude(concurrency_limit=cap):
            prefect_api.set_deployment_concurrency_limit(deployment.prefect_id, cap)
            Deployment.objects.filter(pk=deployment.pk).update(concurrency_limit=cap)
            fixed += 1
        pools = WorkPool.objects.filter(deleted_in_prefect=False, deployments__isnull=False).distinct()
        for pool in pools.exclude(concurrency_limit=cap):
            prefect_api.set_work_pool_concurrency_limit(pool.name, cap)
            WorkPool.objects.filter(pk=pool.pk).update(concurrency_limit=cap)
            fixed += 1
    return fixed


# --- Cancel and retry ---------------------------------------------------------------------------------------------

CANCEL_DONE_STATES = frozenset({StateType.CANCELLING, StateType.CANCELLED})


def cancel_run(actor: Actor, run: FlowRun) -> FlowRun:
    """Ask Prefect to cancel a run (state CANCELLING); the process watching it stops it and marks it CANCELLED.

    One Prefect call: `set_state`, whose answer (the resulting state) updates the mirror. Prefect's orchestration
    decides what is possible — a scheduled run goes straight to CANCELLED, a finished one is refused — so the run is
    re-read only when Prefect refuses, to say why and to refresh the stale mirror row.
    """
    audit = start_cancel(actor, run)
    require_cancel(audit, run)
    cancel_in_prefect(audit, run, cancel_message(actor))
    return audit.commit()


def start_cancel(actor: Actor, run: FlowRun, deferred: bool = False) -> Auditor:
    """The audit of a cancel; its `before` is the mirror's last known state of the run (no Prefect read)."""
    audit = Auditor(actor, "flow_run.cancel", "flow_run", run.prefect_id, deferred=deferred)
    audit.before = {"state_type": run.state_type, "state_name": run.state_name}
    return audit


def require_cancel(audit: Auditor, run: FlowRun) -> None:
    audit.require(CANCEL, f"You are not allowed to cancel run {run.name}.")
    require_in_prefect(audit, run, "cancel")


def require_in_prefect(audit: Auditor, run: FlowRun, operation: str) -> None:
    """A ghost (a run Prefect deleted) is refused before asking Prefect, with a message saying so."""
    if run.deleted_in_prefect:
        audit.fail(
            OperationNotAllowed(f"Cannot {operation} run {run.name}: Prefect has deleted it (only our record is left).")
        )


def cancel_message(actor: Actor) -> str:
    return f"Cancelled by {actor.label}"


def cancel_in_prefect(audit: Auditor, run: FlowRun, message: str) -> None:
    """The Prefect side of a cancel; queues the mirror write and audit record (no database access here)."""
    result = audit.call_prefect(prefect_api.cancel_flow_run, run.prefect_id, message)
    settle_cancel(audit, run, result, lambda: prefect_api.read_flow_run(run.prefect_id))


def settle_cancel(
    audit: Auditor, run: FlowRun, result: dict[str, Any], read_current: Callable[[], dict[str, Any]]
) -> None:
    """Prefect's answer to a cancel: its state into the mirror, or — refused — the run as Prefect has it now
    (`read_current`) into the mirror, and the refusal with its reason."""
    if settled_as(result, CANCEL_DONE_STATES):
        audit.record_state(run, result["state"])
        return
    current = audit.call_prefect(read_current)
    audit.refresh_mirror(current)
    if current["state_type"] in TERMINAL_STATE_TYPES:
        audit.fail(OperationNotAllowed(f"Run {run.name} has already finished ({current['state_name']})."))
    audit.fail(OperationNotAllowed(f"Prefect did not cancel run {run.name}: {refusal_reason(result)}."))


def settled_as(result: dict[str, Any], done_states: frozenset[StateType]) -> bool:
    """Whether an orchestration answer leaves the run where it was asked to go.

    Prefect may answer REJECT while putting the run into another state that still does what was asked (a scheduled
    run asked to cancel goes straight to CANCELLED), or REJECT a repeated transition with the state already there.
    """
    state = result.get("state") or {}
    return state.get("type") in done_states and result.get("status") in ("ACCEPT", "REJECT")


def refusal_reason(result: dict[str, Any]) -> str:
    return (result.get("details") or {}).get("reason") or result.get("status") or "refused"


def retry_run(actor: Actor, run: FlowRun) -> FlowRun:
    """Reschedule a failed, crashed or cancelled deployment run now; the process serving it runs it again.

    Two Prefect calls: a read (the retry is forced past Prefect's orchestration, so the run's state is checked here
    first) and `set_state`, whose answer updates the mirror. Retrying a run that is already rescheduled (a client
    repeating a request whose answer it lost) answers that run again instead of rescheduling it a second time.
    """
    audit = start_retry(actor, run)
    require_retry(audit, run)
    retry_in_prefect(audit, run, retry_message(actor))
    return audit.commit()


def start_retry(actor: Actor, run: FlowRun, deferred: bool = False) -> Auditor:
    return Auditor(actor, "flow_run.retry", "flow_run", run.prefect_id, deferred=deferred)


def require_retry(audit: Auditor, run: FlowRun) -> None:
    audit.require(RETRY, f"You are not allowed to retry run {run.name}.")
    require_in_prefect(audit, run, "retry")


def retry_message(actor: Actor) -> str:
    return f"Retried by {actor.label}"


def retry_in_prefect(audit: Auditor, run: FlowRun, message: str) -> None:
    """The Prefect side of a retry; queues the mirror write and audit record (no database access here)."""
    if run.deployment_id is None:
        audit.fail(OperationNotAllowed(f"Run {run.name} is not a deployment run; only deployment runs can be retried."))
    live = audit.call_prefect(prefect_api.read_flow_run, run.prefect_id)
    audit.before = _state_of(live)
    if live["state_type"] == StateType.SCHEDULED and live["state_name"] == prefect_api.AWAITING_RETRY:
        audit.refresh_mirror(live)
        audit.record_unchanged(run, "Already rescheduled; not rescheduled again.")
        return
    if live["state_type"] not in RETRYABLE_STATE_TYPES:
        audit.refresh_mirror(live)
        audit.fail(
            OperationNotAllowed(
                f"Run {run.name} is {live['state_name']}; only failed, crashed or cancelled runs can be retried."
            )
        )
    result = audit.call_prefect(prefect_api.retry_flow_run, run.prefect_id, message)
    if not settled_as(result, frozenset({StateType.SCHEDULED})):
        audit.fail(OperationNotAllowed(f"Prefect did not retry run {run.name}: {refusal_reason(result)}."))
    audit.record_state(run, result["state"])


def _state_of(payload: dict[str, Any]) -> dict[str, Any]:
    return {"state_type": payload.get("state_type"), "state_name": payload.get("state_name")}


# --- Logs ---------------------------------------------------------------------------------------------------------


def read_run_logs(actor: Actor, run: FlowRun, after: str | None = None, limit: int = 200) -> list[dict[str, Any]]:
    """One page of a run's logs, live from Prefect, oldest first, strictly after the ISO timestamp `after`.

    A read: audited only when refused.
    """
    if not actor.has_perm(VIEW_RUNS):
        audit = Auditor(actor, "flow_run.read_logs", "flow_run", run.prefect_id)
        audit.fail(PermissionDeniedError(f"You are not allowed to read the logs of run {run.name}."))
    if not 1 <= limit <= MAX_LOG_PAGE:
        raise InvalidInput(f"limit must be between 1 and {MAX_LOG_PAGE}.", {"limit": [f"1 to {MAX_LOG_PAGE}"]})
    try:
        return prefect_api.read_flow_run_logs(run.prefect_id, after=after, limit=limit)
    except prefect_api.PrefectUnavailable as exc:
        raise UpstreamUnavailable(str(exc)) from exc
    except prefect_api.PrefectRejected as exc:
        raise InvalidInput(f"Prefect refused the log query: {exc}", {"after": [str(exc)]}) from exc
