"""The admin site: any active user with a role may sign in (not only "staff"), and one without a role is told
plainly what is missing instead of "enter the correct username and password for a staff account"."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.contrib.admin.forms import AdminAuthenticationForm
from django.core.exceptions import ValidationError
from django.http import HttpRequest

# The index in the order operators use it: runs, deployments and alerts first; accounts and beat's internals last.
# Apps and models not named here keep Django's alphabetical order after the named ones of their list.
APP_ORDER = ["workflows", "monitoring", "controlplane", "gateway", "auth", "axes", "django_celery_beat"]
MODEL_ORDER = {
    "workflows": ["FlowRun", "Deployment", "BulkOperation", "Flow", "WorkPool", "OrchestrationConfig"],
    "monitoring": ["Alert", "ComponentHealth", "SystemSample", "Threshold", "NotificationChannel", "Delivery"],
    "controlplane": ["AuditEvent", "ApiToken"],
    "django_celery_beat": ["PeriodicTask"],
}

NO_ROLE = (
    "Your account has no role yet, so there is nothing here for it. Ask an admin to give it one: viewer, "
    "operator, admin or auditor."
)


def may_use_admin(user: Any) -> bool:
    """Active, and staff or holding any permission (a role grants permissions; the permission set is cached)."""
    return bool(user.is_active and (user.is_staff or user.get_all_permissions()))


class RoleAwareAuthenticationForm(AdminAuthenticationForm):
    def confirm_login_allowed(self, user: Any) -> None:
        if not user.is_active:
            super().confirm_login_allowed(user)
        if not may_use_admin(user):
            raise ValidationError(NO_ROLE, code="no_role")


class ControlPlaneAdminSite(admin.AdminSite):
    site_header = "Prefect control plane"
    site_url = None  # "/" only redirects here: no "View site" link
    site_title = "Control plane"
    index_title = "Operations"
    login_form = RoleAwareAuthenticationForm

    def has_permission(self, request: HttpRequest) -> bool:
        return may_use_admin(request.user)

    def get_app_list(self, request: HttpRequest, app_label: str | None = None) -> list[dict[str, Any]]:
        apps = super().get_app_list(request, app_label)
        for app in apps:
            app["models"].sort(key=lambda model: _rank(MODEL_ORDER.get(app["app_label"], []), model["object_name"]))
        return sorted(apps, key=lambda app: _rank(APP_ORDER, app["app_label"]))


def _rank(order: list[str], name: str) -> float:
    """Named first, in their order; the rest after them in Django's alphabetical order (the sort is stable), but
    before the accounts and beat internals that close the app list."""
    if name in order:
        return order.index(name)
    return order.index("auth") - 0.5 if "auth" in order else len(order)
