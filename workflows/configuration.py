"""The orchestration configuration: the one row of settings admins edit, and the service that changes it
(permission → validation → Prefect, for the concurrency cap → write + audit event in one durable transaction)."""

from __future__ import annotations

from typing import Any, NoReturn

from django.core.exceptions import ValidationError
from django.db import transaction
from django.forms.models import model_to_dict

from controlplane.audit.actor import Actor
from controlplane.audit.chain import record_audit_event
from controlplane.audit.services import refuse
from controlplane.exceptions import InvalidInput, PermissionDeniedError, ServiceError, UpstreamUnavailable
from workflows import prefect_api
from workflows.models import OrchestrationConfig
from workflows.services import apply_concurrency_cap_everywhere

CHANGE_CONFIG = "workflows.change_orchestrationconfig"
VIEW_CONFIG = "workflows.view_orchestrationconfig"
ACTION = "config.update"
TARGET_TYPE = "orchestration_config"
# The served health check's deployment (flows/catalogue/system.py): its schedule follows the configured interval.
HEALTH_CHECK_DEPLOYMENT = "health-check"
CONFIG_FIELDS = (
    "max_concurrent_runs",
    "retry_attempts",
    "health_check_interval_seconds",
    "auto_recovery_enabled",
    "monitoring_enabled",
    "default_timeout_seconds",
)


def current_config() -> OrchestrationConfig:
    """The configuration for reading: an unsaved default row stands in until an admin saves it (a read never
    writes)."""
    return OrchestrationConfig.objects.filter(pk=1).first() or OrchestrationConfig(pk=1)


def _refuse(actor: Actor, error: ServiceError) -> NoReturn:
    refuse(actor, ACTION, error, target_type=TARGET_TYPE, target_id=1)


def update_config(actor: Actor, changes: dict[str, Any]) -> OrchestrationConfig:
    """Apply `changes` to the configuration; a changed concurrency cap is pushed to Prefect first."""
    if not actor.has_perm(CHANGE_CONFIG):
        _refuse(actor, PermissionDeniedError("Only admins can change the configuration."))
    config = OrchestrationConfig.load()
    cleaned, errors = _clean_config_changes(config, changes)
    if errors:
        _refuse(actor, InvalidInput("Invalid configuration.", errors))
    before = _config_values(config)
    for name, value in cleaned.items():
        setattr(config, name, value)
    after = _config_values(config)
    if after.get("max_concurrent_runs") != before.get("max_concurrent_runs"):
        try:
            apply_concurrency_cap_everywhere(config.max_concurrent_runs or None)
        except prefect_api.PrefectError as exc:
            _refuse(actor, UpstreamUnavailable(f"Could not apply the concurrency cap in Prefect: {exc}"))
    if after["health_check_interval_seconds"] != before["health_check_interval_seconds"]:
        try:
            prefect_api.set_interval_schedules(HEALTH_CHECK_DEPLOYMENT, config.health_check_interval_seconds)
        except prefect_api.PrefectError as exc:
            _refuse(actor, UpstreamUnavailable(f"Could not change the health check's schedule in Prefect: {exc}"))
    changed = {name for name in after if after[name] != before[name]}
    with transaction.atomic(durable=True):
        config.save()
        record_audit_event(
            actor,
            ACTION,
            target_type=TARGET_TYPE,
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
    return cleaned, errors
