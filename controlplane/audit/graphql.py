"""The audit log in the API: read by auditors and admins, newest first, filtered."""

from __future__ import annotations

from datetime import datetime

import strawberry
import strawberry_django
from django.db.models import QuerySet
from strawberry import auto, relay
from strawberry.scalars import JSON
from strawberry_django.permissions import HasPerm

from controlplane.api.fields import CountedConnection, model_type
from controlplane.audit.models import AuditEvent
from controlplane.audit.services import VIEW


@model_type(AuditEvent, name="AuditEvent")
class AuditEventNode(relay.Node):
    occurred_at: datetime
    actor_label: auto
    action: auto
    target_type: auto
    target_id: auto
    before: JSON | None
    after: JSON | None
    outcome: auto
    message: auto
    ip_address: str | None
    user_agent: auto
    prev_hash: auto
    hash: auto


@strawberry.input(description="All given conditions must hold.")
class AuditEventFilter:
    actor: str | None = strawberry.field(default=None, description="Exact actor label: username, token:<name>, system.")
    action: str | None = None
    outcome: str | None = strawberry.field(default=None, description="success, denied or error.")
    target_type: str | None = None
    target_id: str | None = None
    occurred_after: datetime | None = None
    occurred_before: datetime | None = None


def filter_audit_events(events: QuerySet[AuditEvent], event_filter: AuditEventFilter) -> QuerySet[AuditEvent]:
    exact = {
        "actor_label": event_filter.actor,
        "action": event_filter.action,
        "outcome": event_filter.outcome,
        "target_type": event_filter.target_type,
        "target_id": event_filter.target_id,
        "occurred_at__gte": event_filter.occurred_after,
        "occurred_at__lte": event_filter.occurred_before,
    }
    return events.filter(**{lookup: value for lookup, value in exact.items() if value is not None})


@strawberry.type
class AuditQuery:
    @strawberry_django.connection(
        CountedConnection[AuditEventNode],
        extensions=[HasPerm(VIEW, fail_silently=False)],
        description="The audit log, newest first (auditors and admins).",
    )
    def audit_events(self, filter: AuditEventFilter | None = None) -> QuerySet[AuditEvent]:
        events = AuditEvent.objects.order_by("-id")
        return filter_audit_events(events, filter) if filter else events
