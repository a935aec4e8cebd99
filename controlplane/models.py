"""The control plane app's models, defined in the rooms that own them and registered here (Django finds an app's
models through its `models` module)."""

from __future__ import annotations

from controlplane.access.models import ApiToken
from controlplane.audit.models import AuditEvent, AuditLogIsAppendOnly, AuditOutcome

__all__ = ["ApiToken", "AuditEvent", "AuditLogIsAppendOnly", "AuditOutcome"]
