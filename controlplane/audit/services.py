"""State changes of the audit log itself, and the audited refusal every other service uses.

An audited outcome that stands on its own (a refusal, a login, an export, a verification) is written in a durable
transaction: it commits at once, whatever the caller does next, and no caller's outer transaction can hold the chain
lock (and so every other writer) across a slow call to Prefect. A change and the event that records it share one
transaction instead: the caller's (`record_audit_event` joins it).
"""

from __future__ import annotations

from typing import Any, NoReturn

from django.db import transaction
from django.db.models import QuerySet

from controlplane.audit.actor import Actor
from controlplane.audit.chain import VerifyResult, record_audit_event, verify_chain
from controlplane.audit.models import AuditEvent, AuditOutcome
from controlplane.exceptions import InvalidInput, PermissionDeniedError, ServiceError

EXPORT = "controlplane.export_auditevent"
VERIFY = "controlplane.verify_auditevent"
VIEW = "controlplane.view_auditevent"
AUDIT_LOG = "audit_log"


def record_event(actor: Actor, action: str, **fields: Any) -> AuditEvent:
    """Append one event that stands on its own (no other write goes with it), committed at once."""
    with transaction.atomic(durable=True):
        return record_audit_event(actor, action, **fields)


def refuse(
    actor: Actor, action: str, error: ServiceError, *, target_type: str, target_id: Any, before: Any = None
) -> NoReturn:
    """Audit a refused or failed operation (denied for a permission, error otherwise) and raise `error`."""
    outcome = AuditOutcome.DENIED if isinstance(error, PermissionDeniedError) else AuditOutcome.ERROR
    after = {"field_errors": error.field_errors} if isinstance(error, InvalidInput) and error.field_errors else None
    record_denied(
        actor,
        action,
        error.message,
        target_type=target_type,
        target_id=target_id,
        before=before,
        after=after,
        outcome=outcome,
    )
    raise error


def record_denied(
    actor: Actor,
    action: str,
    message: str,
    *,
    target_type: str,
    target_id: Any,
    before: Any = None,
    after: Any = None,
    outcome: str = AuditOutcome.DENIED,
) -> AuditEvent:
    """Audit an attempt that was refused at the edge (the edge then answers 403 or a typed payload itself)."""
    return record_event(
        actor,
        action,
        target_type=target_type,
        target_id=target_id,
        before=before,
        after=after,
        outcome=outcome,
        message=message,
    )


def export_audit_log(actor: Actor, events: QuerySet[AuditEvent], fmt: str, scope: str) -> QuerySet[AuditEvent]:
    """Allow and record an export of `events` (oldest first, as returned); the caller streams them."""
    action = f"{AUDIT_LOG}.export"
    if not (actor.has_perm(VIEW) and actor.has_perm(EXPORT)):
        refuse(
            actor,
            action,
            PermissionDeniedError("You may not export the audit log."),
            target_type=AUDIT_LOG,
            target_id="",
        )
    events = events.order_by("id")
    after = {"format": fmt, "events": events.count(), "scope": scope}
    record_event(actor, action, target_type=AUDIT_LOG, target_id=fmt, after=after)
    return events


def verify_audit_log(actor: Actor) -> VerifyResult:
    """Walk the chain and record who verified it and what was found (a broken chain is an `error` outcome)."""
    action = f"{AUDIT_LOG}.verify"
    if not actor.has_perm(VERIFY):
        refuse(
            actor,
            action,
            PermissionDeniedError("You may not verify the audit log."),
            target_type=AUDIT_LOG,
            target_id="",
        )
    result = verify_chain()
    record_event(
        actor,
        action,
        target_type=AUDIT_LOG,
        target_id="chain",
        after={"checked": result.checked, "head_hash": result.head_hash, "ok": result.ok},
        outcome=AuditOutcome.SUCCESS if result.ok else AuditOutcome.ERROR,
        message=result.problem,
    )
    return result
