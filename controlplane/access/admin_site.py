"""The admin site: any active user with a role may sign in (not only "staff"), and one without a role is told
plainly what is missing instead of "enter the correct username and password for a staff account"."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.contrib.admin.forms import AdminAuthenticationForm
from django.core.exceptions import ValidationError
from django.http import HttpRequest

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
    site_title = "Control plane"
    index_title = "Operations"
    login_form = RoleAwareAuthenticationForm

    def has_permission(self, request: HttpRequest) -> bool:
        return may_use_admin(request.user)
