"""State changes of the control plane itself: the orchestration configuration and API tokens. Each is permission
checked, validated, written and audited in one transaction; refusals are audited too."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.forms.models import model_to_dict
from django.utils import timezone

from controlplane.audit import Actor, record_audit_event
from controlplane.exceptions import InvalidInput, PermissionDeniedError, ServiceError, UpstreamUnavailable
from controlplane.models import ApiToken, AuditOutcome, OrchestrationConfig
from controlplane.orm import RowWithRelated
from workflows import prefect_api
from workflows.services import apply_concurrency_cap_everywhere

CHANGE_CONFIG = "controlplane.change_orchestrationconfig"
ADD_TOKEN = "controlplane.add_apitoken"  # noqa: S105 -- a permission name
MANAGE_ALL_TOKENS = "controlplane.manage_all_tokens"
TOKEN_PREFIX = "cpt_"  # noqa: S105 -- marks our secrets (and lets secret scanners recognise them)
_PREFIX_SHOWN = 12
CONFIG_FIELDS = (
    "max_concurrent_runs",
    "retry_attempts",
    "health_check_interval_seconds",
    "auto_recovery_enabled",
    "monitoring_enabled",
    "default_timeout_seconds",
)


def _refuse(actor: Actor, action: str, target_type: str, target_id: Any, error: ServiceError, **extra: Any) -> None:
    outcome = AuditOutcome.DENIED if isinstance(error, PermissionDeniedError) else AuditOutcome.ERROR
    with transaction.atomic():
        record_audit_event(
            actor, action, target_type=target_type, target_id=target_id, outcome=outcome, message=error.message, **extra
        )
    raise error


# --- Configuration ------------------------------------------------------------------------------------------------


def update_config(actor: Actor, changes: dict[str, Any]) -> OrchestrationConfig:
    """Apply `changes` to the configuration; a changed concurrency cap is pushed to Prefect first."""
    action = "config.update"
    if not actor.has_perm(CHANGE_CONFIG):
        error = PermissionDeniedError("Only admins can change the configuration.")
        _refuse(actor, action, "orchestration_config", 1, error)
    config = OrchestrationConfig.load()
    cleaned, errors = _clean_config_changes(config, changes)
    if errors:
        _refuse(actor, action, "orchestration_config", config.pk, InvalidInput("Invalid configuration.", errors))
    before = _config_values(config)
    for name, value in cleaned.items():
        setattr(config, name, value)
    after = _config_values(config)
    if after.get("max_concurrent_runs") != before.get("max_concurrent_runs"):
        try:
            apply_concurrency_cap_everywhere(config.max_concurrent_runs or None)
        except prefect_api.PrefectError as exc:
            error = UpstreamUnavailable(f"Could not apply the concurrency cap in Prefect: {exc}")
            _refuse(actor, action, "orchestration_config", config.pk, error)
    changed = {name for name in after if after[name] != before[name]}
    with transaction.atomic():
        config.save()
        record_audit_event(
            actor,
            action,
            target_type="orchestration_config",
            target_id=config.pk,
            before={name: before[name] for name in sorted(changed)},
            after={name: after[name] for name in sorted(changed)},
        )
    return config


def _config_values(config: OrchestrationConfig) -> dict[str, Any]:
    return model_to_dict(config, fields=CONFIG_FIELDS)


def _clean_config_changes(
    config: OrchestrationConfig, changes: dict[str, Any]
) -> tuple[dict[str, Any], dict[str, list[str]]]:
    cleaned: dict[str, Any] = {}
    errors: dict[str, list[str]] = {}
    for name, value in changes.items():
        if name not in CONFIG_FIELDS:
            errors[name] = [f"'{name}' is not a configuration setting."]
            continue
        try:
            cleaned[name] = OrchestrationConfig._meta.get_field(name).clean(value, config)
        except ValidationError as exc:
            errors[name] = list(exc.messages)
    for name in ("max_concurrent_runs", "health_check_interval_seconds", "default_timeout_seconds"):
        if cleaned.get(name) == 0:
            errors[name] = ["Must be at least 1."]
    return cleaned, errors


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
        _refuse(actor, action, "api_token", target, PermissionDeniedError("You may not create tokens for this user."))
    errors = _token_errors(name, expires_at)
    if errors:
        _refuse(actor, action, "api_token", target, InvalidInput("Invalid token.", errors))
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    try:
        with transaction.atomic():
            token = ApiToken.objects.create(
                user=user,
                name=name.strip(),
                token_hash=hash_token(secret),
                prefix=secret[:_PREFIX_SHOWN],
                expires_at=expires_at,
            )
            record_audit_event(actor, action, target_type="api_token", target_id=token.pk, after=_token_summary(token))
    except IntegrityError:
        _refuse(actor, action, "api_token", target, InvalidInput("Invalid token.", {"name": ["Name already in use."]}))
    return token, secret


def revoke_api_token(actor: Actor, token: ApiToken) -> ApiToken:
    action = "api_token.revoke"
    if not _may_manage_tokens_of(actor, token.user, ADD_TOKEN):
        _refuse(actor, action, "api_token", token.pk, PermissionDeniedError("You may not revoke this token."))
    if token.revoked_at is not None:
        _refuse(actor, action, "api_token", token.pk, InvalidInput("The token is already revoked.", {}))
    before = _token_summary(token)
    with transaction.atomic():
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at"])
        record_audit_event(
            actor, action, target_type="api_token", target_id=token.pk, before=before, after=_token_summary(token)
        )
    return token


# Every API request looks its token up: compiled once, not on each request (controlplane.orm).
_TOKEN_WITH_USER = RowWithRelated(ApiToken, "token_hash", "user")

# A script polling every second would otherwise cost a database write per request; "last used" to the minute is
# what an admin deciding whether a token is still in use needs.
TOKEN_LAST_USED_RESOLUTION = timedelta(minutes=1)


def authenticate_token(secret: str) -> ApiToken | None:
    """The active token with this secret (its `last_used_at` updated), or None if unknown, expired or revoked."""
    if not secret.startswith(TOKEN_PREFIX):
        return None
    token = _TOKEN_WITH_USER.get(hash_token(secret))
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
