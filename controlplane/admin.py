"""The control plane's own admin pages, defined in the rooms that own them (Django autodiscovers this module)."""

from __future__ import annotations

from controlplane.access import admin as access_admin
from controlplane.audit import admin as audit_admin
from controlplane.schedules import admin as schedules_admin

__all__ = ["access_admin", "audit_admin", "schedules_admin"]
