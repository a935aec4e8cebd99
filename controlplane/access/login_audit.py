"""Logins, logouts, failed logins and django-axes lockouts go into the audit log."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.http import HttpRequest

from controlplane.audit.actor import Actor, client_ip
from controlplane.audit.models import AuditOutcome
from controlplane.audit.services import record_event

_USER_AGENT_MAX = 500


def _request_actor(request: HttpRequest | None, user: Any = None) -> Actor:
    if request is None:
        return Actor(user=user)
    return Actor(
        user=user,
        ip_address=client_ip(request),
        user_agent=request.META.get("HTTP_USER_AGENT", "")[:_USER_AGENT_MAX],
    )


def _record(actor: Actor, action: str, target_id: str, outcome: str = AuditOutcome.SUCCESS, message: str = "") -> None:
    record_event(actor, action, target_type="user", target_id=target_id, outcome=outcome, message=message)


def audit_login(sender: Any, request: HttpRequest | None, user: Any, **kwargs: Any) -> None:
    _record(_request_actor(request, user), "auth.login", str(user.pk))


def audit_logout(sender: Any, request: HttpRequest | None, user: Any, **kwargs: Any) -> None:
    if user is None:  # logging out an anonymous session
        return
    _record(_request_actor(request, user), "auth.logout", str(user.pk))


def audit_login_failed(
    sender: Any, credentials: dict[str, Any], request: HttpRequest | None = None, **kwargs: Any
) -> None:
    """Recorded as a denied attempt by an anonymous actor; the username tried is the target (never the password)."""
    username = str(credentials.get(get_user_model().USERNAME_FIELD) or credentials.get("username") or "")
    actor = _request_actor(request, None)
    _record(_anonymous(actor), "auth.login_failed", username[:255], AuditOutcome.DENIED, "Wrong username or password.")


def audit_lockout(
    sender: Any, request: HttpRequest | None, username: str | None, ip_address: str | None, **kwargs: Any
) -> None:
    actor = _anonymous(_request_actor(request, None))
    message = f"Locked out after repeated failed logins (from {ip_address or 'unknown address'})."
    _record(actor, "auth.lockout", (username or "")[:255], AuditOutcome.DENIED, message)


def _anonymous(actor: Actor) -> Actor:
    from django.contrib.auth.models import AnonymousUser

    return Actor(user=AnonymousUser(), ip_address=actor.ip_address, user_agent=actor.user_agent)


def connect() -> None:
    from axes.signals import user_locked_out
    from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed

    user_logged_in.connect(audit_login, dispatch_uid="controlplane.audit_login")
    user_logged_out.connect(audit_logout, dispatch_uid="controlplane.audit_logout")
    user_login_failed.connect(audit_login_failed, dispatch_uid="controlplane.audit_login_failed")
    user_locked_out.connect(audit_lockout, dispatch_uid="controlplane.audit_lockout")
