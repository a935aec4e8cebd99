"""State changes of access: API tokens and users' roles. Each is permission checked, validated, written and audited
in one transaction; refusals are audited too (`controlplane.audit.services.refuse`)."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta
from typing import Any, NoReturn

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction
from django.utils import timezone

from controlplane.access.models import ApiToken
from controlplane.audit.actor import Actor
from controlplane.audit.chain import record_audit_event
from controlplane.audit.services import refuse
from controlplane.exceptions import InvalidInput, PermissionDeniedError, ServiceError

ADD_TOKEN = "controlplane.add_apitoken"  # noqa: S105 -- a permission name
MANAGE_ALL_TOKENS = "controlplane.manage_all_tokens"
TOKEN_PREFIX = "cpt_"  # noqa: S105 -- marks our secrets (and lets secret scanners recognise them)
_PREFIX_SHOWN = 12
AUDITED_USER_FLAGS = ("is_active", "is_staff", "is_superuser")


def _refuse(actor: Actor, action: str, target_id: Any, error: ServiceError) -> NoReturn:
    refuse(actor, action, error, target_type="api_token", target_id=target_id)


# --- API tokens ---------------------------------------------------------------------------------------------------


def hash_token(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def create_api_token(
    actor: Actor, user: AbstractBaseUser, name: str, expires_at: datetime | None = None
) -> tuple[ApiToken, str]:
    """Create a token for `user` (yourself, or anyone with `manage_all_tokens`). The secret is returned only here."""
    action = "api_token.create"
    target = f"user:{user.pk}"
    if not _may_manage_tokens_of(actor, user, ADD_TOKEN):
        _refuse(actor, action, target, PermissionDeniedError("You may not create tokens for this user."))
    errors = _token_errors(name, expires_at)
    if errors:
        _refuse(actor, action, target, InvalidInput("Invalid token.", errors))
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    try:
        with transaction.atomic(durable=True):
            token = ApiToken.objects.create(
                user=user,
                name=name.strip(),
                token_hash=hash_token(secret),
                prefix=secret[:_PREFIX_SHOWN],
                expires_at=expires_at,
            )
            record_audit_event(actor, action, target_type="api_token", target_id=token.pk, after=_token_summary(token))
    except IntegrityError:
        _refuse(actor, action, target, InvalidInput("Invalid token.", {"name": ["Name already in use."]}))
    return token, secret


def revoke_api_token(actor: Actor, token: ApiToken) -> ApiToken:
    action = "api_token.revoke"
    if not _may_manage_tokens_of(actor, token.user, ADD_TOKEN):
        _refuse(actor, action, token.pk, PermissionDeniedError("You may not revoke this token."))
    if token.revoked_at is not None:
        _refuse(actor, action, token.pk, InvalidInput("The token is already revoked.", {}))
    before = _token_summary(token)
    with transaction.atomic(durable=True):
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at"])
        record_audit_event(
            actor, action, target_type="api_token", target_id=token.pk, before=before, after=_token_summary(token)
        )
    return token


# A script polling every second would otherwise cost a database write per request; "last used" to the minute is
# what an admin deciding whether a token is still in use needs.
TOKEN_LAST_USED_RESOLUTION = timedelta(minutes=1)


def authenticate_token(secret: str) -> ApiToken | None:
    """The active token with this secret (its `last_used_at` updated), or None if unknown, expired or revoked."""
    if not secret.startswith(TOKEN_PREFIX):
        return None
    token = ApiToken.objects.select_related("user").filter(token_hash=hash_token(secret)).first()
    now = timezone.now()
    if token is None or not is_token_active(token, now) or not token.user.is_active:
        return None
    if token.last_used_at is None or now - token.last_used_at >= TOKEN_LAST_USED_RESOLUTION:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        token.last_used_at = now
    return token


def is_token_active(token: ApiToken, now: datetime | None = None) -> bool:
    now = now or timezone.now()
    return token.revoked_at is None and (token.expires_at is None or token.expires_at > now)


def _may_manage_tokens_of(actor: Actor, owner: AbstractBaseUser, permission: str) -> bool:
    if actor.is_system:
        return True
    acting_user = actor.token.user if actor.token is not None else actor.user
    if acting_user is None or not acting_user.is_authenticated:
        return False
    if acting_user.pk == owner.pk:
        return True
    return actor.has_perm(MANAGE_ALL_TOKENS) and actor.has_perm(permission)


def _token_errors(name: str, expires_at: datetime | None) -> dict[str, list[str]]:
    errors: dict[str, list[str]] = {}
    if not name or not name.strip():
        errors["name"] = ["A token needs a name."]
    elif len(name.strip()) > ApiToken._meta.get_field("name").max_length:
        errors["name"] = ["Name is too long."]
    if expires_at is not None and expires_at <= timezone.now():
        errors["expires_at"] = ["Expiry must be in the future."]
    return errors


def _token_summary(token: ApiToken) -> dict[str, Any]:
    return {
        "name": token.name,
        "user": token.user.get_username(),
        "prefix": token.prefix,
        "expires_at": token.expires_at,
        "revoked_at": token.revoked_at,
    }


# --- Users' roles -------------------------------------------------------------------------------------------------


def user_access(user_pk: int) -> dict[str, Any]:
    """What a user may do, as the audit log records it: roles (groups) and the admin flags."""
    user = get_user_model().objects.prefetch_related("groups").get(pk=user_pk)
    return {
        "username": user.get_username(),
        "roles": sorted(group.name for group in user.groups.all()),
        **{flag: getattr(user, flag) for flag in AUDITED_USER_FLAGS},
    }


def record_user_access_change(actor: Actor, user_pk: int, before: dict[str, Any] | None) -> None:
    """Audit a user's access after an edit (Django's user admin did the write), in the edit's own transaction, so
    the change and its record commit together. Nothing is recorded when roles and flags did not change."""
    after = user_access(user_pk)
    if before == after:
        return
    action = "user.access_changed" if before is not None else "user.created"
    record_audit_event(actor, action, target_type="user", target_id=user_pk, before=before, after=after)
