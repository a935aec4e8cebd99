"""Who acts, as the services and the audit log see it: a user, a user's API token, or the system."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from django.conf import settings

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
    from django.http import HttpRequest

    from controlplane.access.models import ApiToken

SYSTEM_LABEL = "system"
_USER_AGENT_MAX = 500


@dataclass(frozen=True)
class Actor:
    """Who acts: a user (through the admin, or through an API token), or the system (Celery, commands)."""

    user: AbstractBaseUser | AnonymousUser | None
    token: ApiToken | None = None
    ip_address: str | None = None
    user_agent: str = ""

    @property
    def label(self) -> str:
        if self.token is not None:
            return f"{self.token.user.get_username()} (token:{self.token.name})"
        if self.user is None:
            return SYSTEM_LABEL
        if not self.user.is_authenticated:
            return "anonymous"
        return self.user.get_username()

    @property
    def is_system(self) -> bool:
        return self.user is None and self.token is None

    def has_perm(self, permission: str) -> bool:
        """The system may do anything; a user (or token, acting as its user) needs the Django permission."""
        if self.is_system:
            return True
        user = self.token.user if self.token is not None else self.user
        return bool(user and user.is_active and user.has_perm(permission))

    @classmethod
    def from_request(cls, request: HttpRequest) -> Actor:
        return cls(
            user=getattr(request, "user", None),
            token=getattr(request, "api_token", None),
            ip_address=client_ip(request),
            user_agent=request.META.get("HTTP_USER_AGENT", "")[:_USER_AGENT_MAX],
        )

    @classmethod
    def system(cls) -> Actor:
        return cls(user=None)

    @classmethod
    def for_user(cls, user: AbstractBaseUser) -> Actor:
        return cls(user=user)


def client_ip(request: HttpRequest) -> str | None:
    """The peer address. Behind a TLS proxy (SECURE_PROXY_SSL_HEADER set) the first X-Forwarded-For hop."""
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
    if forwarded and getattr(settings, "SECURE_PROXY_SSL_HEADER", None):
        return forwarded.split(",")[0].strip() or None
    return request.META.get("REMOTE_ADDR") or None
