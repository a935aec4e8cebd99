"""The gateway's audit records: every request that is not a read — allowed, refused by the gateway, or refused or
failed in Prefect — is one event naming the user, the method and route, the target ids, the outcome and the status."""

from __future__ import annotations

from typing import Any

from controlplane.audit.actor import Actor
from controlplane.audit.models import AuditOutcome
from controlplane.audit.services import record_denied, record_event
from gateway.rights import Decision

ACTION_PREFIX = "prefect"


def action_of(decision: Decision) -> str:
    """`prefect:POST /flow_runs/{id}/set_state` — the route, so the admin's action filter groups by route."""
    return f"{ACTION_PREFIX}:{decision.method} {decision.route}"[:100]


def _details(decision: Decision, status: int, **more: Any) -> dict[str, Any]:
    details: dict[str, Any] = {"method": decision.method, "route": decision.route, "right": decision.right.value}
    details.update({"params": decision.params, "status": status, **decision.extra, **more})
    return details


def record_refusal(actor: Actor, decision: Decision) -> None:
    record_denied(
        actor,
        action_of(decision),
        decision.reason,
        target_type=f"prefect.{decision.resource}",
        target_id=decision.target_id,
        after=_details(decision, 403, permission=decision.permission),
    )


def record_forwarded(actor: Actor, decision: Decision, status: int, result_id: str = "", message: str = "") -> None:
    """A request Prefect answered (or failed to): success below 400, error otherwise."""
    more = {"result_id": result_id} if result_id else {}
    record_event(
        actor,
        action_of(decision),
        target_type=f"prefect.{decision.resource}",
        target_id=decision.target_id or result_id,
        after=_details(decision, status, **more),
        outcome=AuditOutcome.SUCCESS if status < 400 else AuditOutcome.ERROR,
        message=message,
    )
