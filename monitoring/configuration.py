"""What admins configure: thresholds and notification channels, and the test send of a channel. Each service does
permission → validation (field messages) → write + audit event in one durable transaction; a refusal is audited
through `refuse`. A channel's URL and secret never reach the audit log: they are recorded masked."""

from __future__ import annotations

from typing import Any, NoReturn

from django.core.exceptions import ValidationError
from django.db import models, transaction
from django.forms.models import model_to_dict

from controlplane.audit.actor import Actor
from controlplane.audit.chain import record_audit_event
from controlplane.audit.services import record_event, refuse
from controlplane.environment import MASK
from controlplane.exceptions import InvalidInput, PermissionDeniedError, ServiceError, UpstreamUnavailable
from monitoring import notify
from monitoring.models import (
    Comparison,
    Delivery,
    DeliveryStatus,
    DeploymentAlertRule,
    Metric,
    NotificationChannel,
    Scope,
    Threshold,
)

THRESHOLD_FIELDS = (
    "name",
    "metric",
    "scope",
    "scope_value",
    "comparison",
    "warning_level",
    "critical_level",
    "for_seconds",
    "enabled",
)
CHANNEL_FIELDS = ("name", "kind", "target", "secret", "min_severity", "deployment_filter", "tag_filter", "enabled")
SECRET_FIELDS = frozenset({"target", "secret"})
_HOST_SCOPES = (Scope.GLOBAL, Scope.HOST)
_RUN_SCOPES = (Scope.GLOBAL, Scope.DEPLOYMENT)
# The scopes each metric can be measured in (monitoring.observations); the rest only global.
SCOPES_OF = {
    Metric.CPU_PERCENT: _HOST_SCOPES,
    Metric.MEMORY_PERCENT: _HOST_SCOPES,
    Metric.SWAP_PERCENT: _HOST_SCOPES,
    Metric.LOAD1: _HOST_SCOPES,
    Metric.DISK_PERCENT: (Scope.GLOBAL, Scope.DISK),
    Metric.RUN_ERROR_RATE: _RUN_SCOPES,
    Metric.RUN_RETRY_RATE: _RUN_SCOPES,
    Metric.LATE_RUNS: _RUN_SCOPES,
}


def _refuse(actor: Actor, action: str, target_type: str, target_id: Any, error: ServiceError) -> NoReturn:
    refuse(actor, action, error, target_type=target_type, target_id=target_id)


def _clean(
    model: type[models.Model], instance: models.Model, fields: tuple[str, ...], changes: dict[str, Any]
) -> dict[str, list[str]]:
    """Apply `changes` to `instance` field by field; returns the field errors (unknown fields included)."""
    errors: dict[str, list[str]] = {}
    for name, value in changes.items():
        if name not in fields:
            errors[name] = [f"'{name}' is not a field of {model._meta.verbose_name}."]
            continue
        try:
            setattr(instance, name, model._meta.get_field(name).clean(value, instance))
        except ValidationError as exc:
            errors[name] = list(exc.messages)
    return errors


def _unique_name_error(model: type[models.Model], instance: Any) -> dict[str, list[str]]:
    taken = model._default_manager.filter(name=instance.name).exclude(pk=instance.pk).exists()  # type: ignore[attr-defined]
    return {"name": [f"A {model._meta.verbose_name} named {instance.name!r} exists already."]} if taken else {}


def _save_audited(actor: Actor, action: str, target_type: str, instance: Any, before: Any, after: Any) -> None:
    with transaction.atomic(durable=True):
        instance.save()
        record_audit_event(actor, action, target_type=target_type, target_id=instance.pk, before=before, after=after)


def _changed(before: dict[str, Any] | None, after: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
    if before is None:
        return None, after
    changed = sorted(name for name in after if after[name] != before.get(name))
    return {name: before[name] for name in changed}, {name: after[name] for name in changed}


# --- Thresholds -----------------------------------------------------------------------------------------------------


REQUIRED_THRESHOLD_FIELDS = ("name", "warning_level", "critical_level")


def threshold_errors(threshold: Threshold) -> dict[str, list[str]]:
    errors: dict[str, list[str]] = {
        name: ["This field is required."]
        for name in REQUIRED_THRESHOLD_FIELDS
        if getattr(threshold, name) in (None, "")
    }
    if threshold.metric not in Metric.values:
        errors["metric"] = [f"Unknown metric {threshold.metric!r}; one of {', '.join(Metric.values)}."]
    elif threshold.scope not in SCOPES_OF.get(Metric(threshold.metric), (Scope.GLOBAL,)):
        allowed = ", ".join(SCOPES_OF.get(Metric(threshold.metric), (Scope.GLOBAL,)))
        errors["scope"] = [f"A {threshold.metric} threshold applies to: {allowed}."]
    if threshold.for_seconds is not None and threshold.for_seconds < 0:
        errors["for_seconds"] = ["Must be 0 or more seconds."]
    warning, critical = threshold.warning_level, threshold.critical_level
    if warning is not None and critical is not None:
        if threshold.comparison == Comparison.ABOVE and warning > critical:
            errors["warning_level"] = ["For an upper threshold (>) the warning level must not be above the critical."]
        if threshold.comparison == Comparison.BELOW and warning < critical:
            errors["warning_level"] = ["For a lower threshold (<) the warning level must not be below the critical."]
    return errors


def _save_threshold(actor: Actor, action: str, threshold: Threshold, changes: dict[str, Any]) -> Threshold:
    target_id = threshold.pk or changes.get("name", "")
    permission = "monitoring.change_threshold" if threshold.pk else "monitoring.add_threshold"
    if not actor.has_perm(permission):
        _refuse(actor, action, "threshold", target_id, PermissionDeniedError("Only admins can change thresholds."))
    before = model_to_dict(threshold, fields=THRESHOLD_FIELDS) if threshold.pk else None
    errors = _clean(Threshold, threshold, THRESHOLD_FIELDS, changes)
    for name, messages in threshold_errors(threshold).items():
        errors.setdefault(name, messages)
    if not errors:
        errors = _unique_name_error(Threshold, threshold)
    if errors:
        _refuse(actor, action, "threshold", target_id, InvalidInput("Invalid threshold.", errors))
    old, new = _changed(before, model_to_dict(threshold, fields=THRESHOLD_FIELDS))
    _save_audited(actor, action, "threshold", threshold, old, new)
    return threshold


def create_threshold(actor: Actor, values: dict[str, Any]) -> Threshold:
    return _save_threshold(actor, "threshold.create", Threshold(), values)


def update_threshold(actor: Actor, threshold: Threshold, changes: dict[str, Any]) -> Threshold:
    threshold.refresh_from_db()
    return _save_threshold(actor, "threshold.update", threshold, changes)


# --- Notification channels ------------------------------------------------------------------------------------------


def channel_values(channel: NotificationChannel) -> dict[str, Any]:
    """The channel as the audit log and the API may show it: target masked, the secret only as set / not set."""
    values = model_to_dict(channel, fields=CHANNEL_FIELDS)
    values["target"] = notify.masked_target(channel)
    values["secret"] = MASK if channel.secret else ""
    return values


def channel_errors(channel: NotificationChannel) -> dict[str, list[str]]:
    if channel.kind == "email":
        addresses = [a.strip() for a in channel.target.split(",") if a.strip()]
        if not addresses or any("@" not in a for a in addresses):
            return {"target": ["Give comma-separated e-mail addresses."]}
        return {}
    if not channel.target.startswith(("http://", "https://")):
        return {"target": ["Give the http(s) URL of the webhook."]}
    return {}


def _save_channel(actor: Actor, action: str, channel: NotificationChannel, changes: dict[str, Any]) -> Any:
    target_id = channel.pk or changes.get("name", "")
    permission = "monitoring.change_notificationchannel" if channel.pk else "monitoring.add_notificationchannel"
    if not actor.has_perm(permission):
        error = PermissionDeniedError("Only admins can change notification channels.")
        _refuse(actor, action, "notification_channel", target_id, error)
    before = channel_values(channel) if channel.pk else None
    errors = _clean(NotificationChannel, channel, CHANNEL_FIELDS, changes)
    if not errors:
        errors = channel_errors(channel) or _unique_name_error(NotificationChannel, channel)
    if errors:
        _refuse(actor, action, "notification_channel", target_id, InvalidInput("Invalid channel.", errors))
    old, new = _changed(before, channel_values(channel))
    if before is not None and set(changes) & SECRET_FIELDS:  # a changed secret is masked the same before and after
        new = {**new, **{name: f"{MASK} (changed)" for name in SECRET_FIELDS & set(changes)}}
    _save_audited(actor, action, "notification_channel", channel, old, new)
    return channel


def create_channel(actor: Actor, values: dict[str, Any]) -> NotificationChannel:
    return _save_channel(actor, "channel.create", NotificationChannel(), values)


def update_channel(actor: Actor, channel: NotificationChannel, changes: dict[str, Any]) -> NotificationChannel:
    channel.refresh_from_db()
    return _save_channel(actor, "channel.update", channel, changes)


def send_test_notification(actor: Actor, channel: NotificationChannel) -> Delivery:
    """Send a test message to the channel now (not through the queue), so the admin sees the outcome at once."""
    action = "channel.test"
    if not actor.has_perm("monitoring.change_notificationchannel"):
        error = PermissionDeniedError("Only admins can test notification channels.")
        _refuse(actor, action, "notification_channel", channel.pk, error)
    delivery = Delivery.objects.create(channel=channel, alert=None)
    notify.deliver(delivery, final_attempt=True)
    outcome = {"delivery": delivery.pk, "status": delivery.status, "response_code": delivery.response_code}
    if delivery.status != DeliveryStatus.SENT:
        error = UpstreamUnavailable(f"The test notification failed: {delivery.error}")
        refuse(actor, action, error, target_type="notification_channel", target_id=channel.pk, before=outcome)
    record_event(actor, action, target_type="notification_channel", target_id=channel.pk, after=outcome)
    return delivery


def set_deployment_alert_rule(actor: Actor, deployment: Any, alert_on_failure: bool) -> DeploymentAlertRule:
    """Whether each FAILED or CRASHED run of `deployment` raises an alert (admins only, audited)."""
    action = "deployment_alert_rule.update"
    if not actor.has_perm("monitoring.change_deploymentalertrule"):
        error = PermissionDeniedError("Only admins can change a deployment's alert rule.")
        _refuse(actor, action, "deployment", deployment.pk, error)
    rule = DeploymentAlertRule.objects.filter(deployment=deployment).first()
    before = {"alert_on_failure": rule.alert_on_failure} if rule else None
    rule = rule or DeploymentAlertRule(deployment=deployment)
    rule.alert_on_failure = alert_on_failure
    _save_audited(actor, action, "deployment", rule, before, {"alert_on_failure": alert_on_failure})
    return rule
