"""Bulk operations as background jobs: above `BULK_SYNC_MAX_ITEMS` items a bulk trigger / cancel / retry is stored
as a `BulkOperation`, its id answered at once, and a Celery worker runs it (`workflows.tasks.run_bulk_operation`)
through the same `workflows.bulk` services — one audit event per item, batches written in one transaction each —
recording progress and per-item results after every batch.

Items are resolved (ids and names to mirror rows) when submitted; one that names nothing is stored with its error.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from controlplane.audit.actor import Actor
from controlplane.audit.chain import append_audit_events
from workflows import bulk
from workflows.models import BulkOperation, Deployment, FlowRun
from workflows.services import CANCEL, RETRY, TRIGGER, Auditor, ItemResult

logger = logging.getLogger(__name__)

PERMISSION_OF_KIND = {
    BulkOperation.Kind.TRIGGER: TRIGGER,
    BulkOperation.Kind.CANCEL: CANCEL,
    BulkOperation.Kind.RETRY: RETRY,
}
Item = dict[str, Any]


# --- Submitting ---------------------------------------------------------------------------------------------------


def run_item(target: str, run: FlowRun | None, error: str | None = None) -> Item:
    """A cancel or retry item: the id the caller gave, and the mirrored run it names (None: `error` says why)."""
    return {"target": target, "run": run.pk if run else None, "error": error}


def trigger_item(
    target: str,
    deployment: Deployment | None,
    parameters: dict[str, Any],
    error: str | None = None,
    idempotency_key: str | None = None,
) -> Item:
    """A trigger item: the deployment the caller named (None: `error` says why), the run's parameters, and the
    caller's idempotency key (without one, the job makes one per item, so a redelivered job never doubles a run)."""
    deployment_pk = deployment.pk if deployment else None
    return {"target": target, "deployment": deployment_pk, "parameters": parameters, "error": error,
            "idempotency_key": idempotency_key}  # fmt: skip


def submit_bulk_operation(actor: Actor, kind: str, items: list[Item]) -> BulkOperation:
    """Store the job and queue it for a worker (once the transaction commits); refused without the permission."""
    audit = Auditor(actor, f"bulk_operation.{kind}", "bulk_operation", "")
    audit.before = {"items": len(items)}
    audit.require(PERMISSION_OF_KIND[kind], f"You are not allowed to {kind} runs.")
    with transaction.atomic():
        operation = BulkOperation.objects.create(
            kind=kind,
            actor_user=_user_of(actor),
            actor_token=actor.token,
            actor_label=actor.label[:255],
            ip_address=actor.ip_address,
            user_agent=actor.user_agent[:500],
            total=len(items),
            items=items,
            results=[None] * len(items),
        )
        audit.target_id = str(operation.pk)
        audit.record({"kind": kind, "total": len(items)})
        append_audit_events(audit.write_queued())
        transaction.on_commit(lambda: _enqueue(operation.pk))
    return operation


def _user_of(actor: Actor) -> Any:
    if actor.token is not None:
        return actor.token.user
    return actor.user if actor.user is not None and actor.user.is_authenticated else None


def _enqueue(operation_id: int) -> bool:
    """Send the job to the workers. A broker that cannot be reached leaves it queued (stored, answered to the caller):
    beat's `requeue_stalled_operations` sends it again once the broker is back."""
    from workflows.tasks import run_bulk_operation

    try:
        run_bulk_operation.delay(operation_id)
    except Exception as exc:  # kombu's errors differ by transport; every one means "not sent"
        logger.warning(
            "bulk operation %s stays queued: the broker is unreachable (%s: %s); it is sent again within %s s of "
            "the broker's return", operation_id, type(exc).__name__, exc, settings.REQUEUE_SECONDS,
        )  # fmt: skip
        return False
    return True


def requeue_stalled_operations(now: datetime | None = None) -> list[int]:
    """Send again every job still queued `REQUEUE_SECONDS` after it was stored; returns their ids. A job runs
    once however often it is sent: its worker claims it by moving it from queued to running."""
    cutoff = (now or timezone.now()) - timedelta(seconds=settings.REQUEUE_SECONDS)
    stalled = BulkOperation.objects.filter(status=BulkOperation.Status.QUEUED, created_at__lte=cutoff)
    sent = [operation_id for operation_id in stalled.values_list("pk", flat=True) if _enqueue(operation_id)]
    if sent:
        logger.info("sent %d stalled bulk operation(s) to the workers again: %s", len(sent), sent)
    return sent


# --- Running ------------------------------------------------------------------------------------------------------


def run_bulk_operation(operation_id: int) -> BulkOperation | None:
    """Run a queued job to the end, saving progress after each batch. A job already claimed (a redelivered task)
    is left alone; None when there was nothing to run."""
    claimed = BulkOperation.objects.filter(pk=operation_id, status=BulkOperation.Status.QUEUED).update(
        status=BulkOperation.Status.RUNNING, started_at=timezone.now()
    )
    if not claimed:
        return None
    operation = BulkOperation.objects.get(pk=operation_id)
    try:
        _run(operation)
    except Exception as exc:
        logger.exception("bulk operation %s failed", operation_id)
        _finish(operation, BulkOperation.Status.FAILED, error=str(exc) or type(exc).__name__)
        raise
    _finish(operation, BulkOperation.Status.FINISHED)
    return operation


def _run(operation: BulkOperation) -> None:
    actor = _actor_of(operation)
    positions, work = _resolved(operation)
    for position, item in enumerate(operation.items):
        if item.get("error"):
            operation.results[position] = {"target": item["target"], "ok": False, "flow_run": None,
                                           "error": item["error"]}  # fmt: skip
    _save_progress(operation)

    def progress(results: list[ItemResult]) -> None:
        for position, result in zip(positions, results, strict=False):
            operation.results[position] = _result_json(operation.items[position]["target"], result)
        _save_progress(operation)

    if operation.kind == BulkOperation.Kind.TRIGGER:
        bulk.bulk_trigger(actor, work, on_batch=progress)
    elif operation.kind == BulkOperation.Kind.CANCEL:
        bulk.bulk_cancel(actor, work, on_batch=progress)
    else:
        bulk.bulk_retry(actor, work, on_batch=progress)


def _actor_of(operation: BulkOperation) -> Actor:
    """Who submitted the job; their permissions are checked again item by item (a user deactivated meanwhile is
    refused on every item)."""
    return Actor(
        user=operation.actor_user,
        token=operation.actor_token,
        ip_address=operation.ip_address,
        user_agent=operation.user_agent,
    )


def _resolved(operation: BulkOperation) -> tuple[list[int], list[Any]]:
    """The positions and service inputs of the items that name something still in the mirror; the others get
    their error in `operation.items`."""
    trigger = operation.kind == BulkOperation.Kind.TRIGGER
    key = "deployment" if trigger else "run"
    rows = (
        Deployment.objects.select_related("flow", "work_pool")
        if trigger
        else FlowRun.objects.select_related("deployment__flow")
    ).in_bulk({item[key] for item in operation.items if item[key] is not None})
    for item in operation.items:
        if not item.get("error") and item[key] not in rows:
            item["error"] = f"{item['target']} is no longer in the mirror."
    named = [(position, item) for position, item in enumerate(operation.items) if not item.get("error")]
    if trigger:
        work: list[Any] = [
            (rows[item[key]], item["parameters"], item.get("idempotency_key") or f"bulk-{operation.pk}-{position}")
            for position, item in named
        ]
    else:
        work = [rows[item[key]] for _, item in named]
    return [position for position, _ in named], work


def _result_json(target: str, result: ItemResult) -> dict[str, Any]:
    flow_run = str(result.flow_run.prefect_id) if result.flow_run is not None else None
    return {"target": target, "ok": result.ok, "flow_run": flow_run, "error": result.error}


def _save_progress(operation: BulkOperation) -> None:
    done = [result for result in operation.results if result is not None]
    operation.done = len(done)
    operation.succeeded = sum(result["ok"] for result in done)
    operation.failed = operation.done - operation.succeeded
    operation.save(update_fields=["results", "done", "succeeded", "failed"])


def _finish(operation: BulkOperation, status: str, error: str = "") -> None:
    operation.status = status
    operation.error = error
    operation.finished_at = timezone.now()
    operation.save(update_fields=["status", "error", "finished_at"])
