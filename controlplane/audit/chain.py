"""The tamper-evident audit log: who did what, chained by HMAC so an altered or removed row is detected.

Each event stores `prev_hash` (the hash of the event before it) and
`hash = HMAC-SHA256(AUDIT_HMAC_KEY, prev_hash + canonical JSON of the event)`. Appends are serialised (an
advisory lock on PostgreSQL; SQLite's IMMEDIATE transactions already serialise writers) so two writers never
chain onto the same predecessor. `verify_chain()` recomputes every link.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection, transaction
from django.utils import timezone

from controlplane.audit.models import AuditEvent, AuditOutcome

if TYPE_CHECKING:
    from controlplane.audit.actor import Actor

GENESIS_HASH = "0" * 64
# Any constant shared by every writer: the key of the PostgreSQL advisory lock that serialises chain appends.
_CHAIN_LOCK_KEY = 7_314_002_611
_USER_AGENT_MAX = 500


# --- Hashing ------------------------------------------------------------------------------------------------------


def _canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, cls=DjangoJSONEncoder)


def _normalised_json(value: Any) -> Any:
    """What a JSONField gives back after a round trip, so the hash at write time equals the hash at verify time."""
    return None if value is None else json.loads(_canonical_json(value))


def _event_content(event: AuditEvent) -> dict[str, Any]:
    occurred_at: datetime = event.occurred_at
    return {
        "occurred_at": occurred_at.astimezone(UTC).isoformat(timespec="microseconds"),
        "actor_user_id": event.actor_user_id,
        "actor_token_id": event.actor_token_id,
        "actor_label": event.actor_label,
        "action": event.action,
        "target_type": event.target_type,
        "target_id": event.target_id,
        "before": event.before,
        "after": event.after,
        "outcome": event.outcome,
        "message": event.message,
        "ip_address": event.ip_address,
        "user_agent": event.user_agent,
    }


def compute_hash(event: AuditEvent) -> str:
    payload = (event.prev_hash + _canonical_json(_event_content(event))).encode()
    return hmac.new(settings.AUDIT_HMAC_KEY.encode(), payload, hashlib.sha256).hexdigest()


# --- Appending ----------------------------------------------------------------------------------------------------


def record_audit_event(actor: Actor, action: str, **fields: Any) -> AuditEvent:
    """Append one event (`fields` as for `new_audit_event`) to the chain. Joins the caller's transaction, so it
    commits (or rolls back) with it."""
    (appended,) = append_audit_events([new_audit_event(actor, action, **fields)])
    return appended


def new_audit_event(
    actor: Actor,
    action: str,
    *,
    target_type: str,
    target_id: str | int | None,
    before: Any = None,
    after: Any = None,
    outcome: str = AuditOutcome.SUCCESS,
    message: str = "",
) -> AuditEvent:
    """An event not yet in the chain (no hashes): hand it, with others, to `append_audit_events`."""
    return AuditEvent(
        occurred_at=timezone.now(),
        actor_user=_actor_user(actor),
        actor_token=actor.token,
        actor_label=actor.label[:255],
        action=action,
        target_type=target_type,
        target_id="" if target_id is None else str(target_id),
        before=_normalised_json(before),
        after=_normalised_json(after),
        outcome=AuditOutcome(outcome),
        message=message,
        ip_address=_normalised_ip(actor.ip_address),
        user_agent=actor.user_agent[:_USER_AGENT_MAX],
    )


def append_audit_events(events: list[AuditEvent]) -> list[AuditEvent]:
    """Chain these events, in order, after the current last one: one lock, one read of the chain's head and one
    INSERT however many there are (a bulk operation's batch). Joins the caller's transaction."""
    if not events:
        return []
    with transaction.atomic(savepoint=False):  # no caller recovers from a failed append inside its transaction
        _lock_chain()
        last = AuditEvent.objects.order_by("-id").only("hash").first()
        previous = last.hash if last else GENESIS_HASH
        for event in events:
            event.prev_hash = previous
            event.hash = previous = compute_hash(event)
        if len(events) == 1:
            events[0].save(force_insert=True)
        else:
            AuditEvent.objects.bulk_create(events)  # ids in list order, so the chain's order is the id order
    return events


def _normalised_ip(address: str | None) -> str | None:
    """The form PostgreSQL's inet column gives back (e.g. compressed IPv6), so the hash survives the round trip."""
    if not address:
        return None
    try:
        return str(ipaddress.ip_address(address))
    except ValueError:
        return None


def _actor_user(actor: Actor) -> Any:
    if actor.token is not None:
        return actor.token.user
    if actor.user is not None and actor.user.is_authenticated:
        return actor.user
    return None


def _lock_chain() -> None:
    """Serialise appends until the transaction ends, so each writer reads the true last hash."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_CHAIN_LOCK_KEY])
    # SQLite: the settings open every transaction IMMEDIATE, which takes the database write lock up front.


# --- Verifying ----------------------------------------------------------------------------------------------------


@dataclass
class VerifyResult:
    checked: int = 0
    head_hash: str = GENESIS_HASH
    first_bad_event_id: int | None = None
    problem: str = ""

    @property
    def ok(self) -> bool:
        return self.first_bad_event_id is None


def verify_chain(batch_size: int = 2000) -> VerifyResult:
    """Walk the chain from the first event; stop at the first event whose link or hash does not match."""
    result = VerifyResult()
    expected_prev = GENESIS_HASH
    for event in _events_in_order(batch_size):
        if event.prev_hash != expected_prev:
            return _broken(result, event, "its prev_hash does not name the event before it (removed or reordered)")
        if not hmac.compare_digest(event.hash, compute_hash(event)):
            return _broken(result, event, "its content does not match its hash (altered)")
        result.checked += 1
        result.head_hash = expected_prev = event.hash
    return result


def _broken(result: VerifyResult, event: AuditEvent, why: str) -> VerifyResult:
    result.first_bad_event_id = event.pk
    result.problem = f"audit event #{event.pk} ({event.action} by {event.actor_label}) is broken: {why}"
    return result


def _events_in_order(batch_size: int) -> Iterator[AuditEvent]:
    last_id = 0
    while True:
        batch = list(AuditEvent.objects.filter(id__gt=last_id).order_by("id")[:batch_size])
        yield from batch
        if len(batch) < batch_size:
            return
        last_id = batch[-1].pk
