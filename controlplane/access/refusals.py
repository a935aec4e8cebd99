"""The 403 page (`handler403`): says what was refused, which role grants it and which roles the user holds, in the
admin's look; a JSON answer for API-style requests. The refusal itself is audited by the service that refused it and
logged as one line (controlplane/request_logging.py)."""

from __future__ import annotations

import re
from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.template.response import TemplateResponse

from controlplane.access.admin_site import ControlPlaneAdminSite, may_use_admin
from controlplane.access.roles import ROLE_NAMES, ROLE_PERMISSIONS

ROLE_SUMMARY = {
    "viewer": "reads runs, deployments, health and alerts",
    "operator": "also triggers, cancels and retries runs, acknowledges and resolves alerts",
    "admin": "also changes configuration, schedules, thresholds, channels, users and tokens; reads the audit log",
    "auditor": "reads, exports and verifies the audit log",
}
# Admin URLs of our own views, by their last segment: the permission each needs.
VIEW_PERMISSIONS = {
    "trigger": "workflows.trigger_run",
    "cancel": "workflows.cancel_run",
    "retry": "workflows.retry_run",
    "verify": "controlplane.verify_auditevent",
    "export": "controlplane.export_auditevent",
}
DOTTED = re.compile(r"\b([a-z_]+\.[a-z]+_[a-z_]+)\b")


def needed_permission(request: HttpRequest, message: str) -> str | None:
    """The permission a refused request needed: named in the refusal's message, else read from the admin URL
    (/admin/<app>/<model>/[<id>/]<view>/)."""
    if named := DOTTED.search(message):
        return named.group(1)
    parts = request.path.strip("/").split("/")
    if len(parts) < 3 or parts[0] != "admin":
        return None
    app, model, rest = parts[1], parts[2], parts[3:]
    for segment in reversed(rest):
        if segment in VIEW_PERMISSIONS:
            return VIEW_PERMISSIONS[segment]
    last = rest[-1] if rest else ""
    if last in ("add", "delete"):
        return f"{app}.{last}_{model}"
    return f"{app}.{'change' if request.method == 'POST' else 'view'}_{model}"


def roles_granting(permission: str | None) -> list[str]:
    if permission is None:
        return []
    return [role for role in ROLE_NAMES if permission in ROLE_PERMISSIONS[role]]


def _user_roles(user: Any) -> list[str]:
    if not user.is_authenticated:
        return []
    return sorted(set(user.groups.values_list("name", flat=True)) & set(ROLE_NAMES))


def permission_denied(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    message = str(exception or "") if exception is not None and exception.args else ""
    permission = needed_permission(request, message)
    granting = roles_granting(permission)
    held = _user_roles(request.user)
    if _wants_json(request):
        body = {"error": "forbidden", "message": message, "permission": permission, "granted_by": granting}
        return JsonResponse(body, status=403)
    context = {
        "title": "Not allowed",
        "message": message,
        "permission": permission,
        "granting": granting,
        "held": held,
        "roles": [(role, ROLE_SUMMARY[role], role in granting) for role in ROLE_NAMES],
        "site_header": ControlPlaneAdminSite.site_header,
        "site_title": ControlPlaneAdminSite.site_title,
        "has_permission": may_use_admin(request.user) if request.user.is_authenticated else False,
    }
    return TemplateResponse(request, "403.html", context, status=403)


def _wants_json(request: HttpRequest) -> bool:
    accept = request.headers.get("Accept", "")
    return "application/json" in accept and "text/html" not in accept
