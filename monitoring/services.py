"""Every change of an alert: the system's own (raise, escalate, resolve, from `apply_observations` and the failed-run
scan, audited as `system`) and people's (acknowledge, resolve: permission → state check → write + audit event in one
durable transaction; refusals audited through `refuse`). Notifications are queued after the transaction commits."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, NoReturn

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from controlplane.audit.actor import Actor
from controlplane.audit.chain import record_audit_event
from controlplane.audit.services import refuse
from controlplane.exceptions import OperationNotAllowed, PermissionDeniedError, ServiceError
from monitoring import notify
from monitoring.alerts import Action, Decision, OpenAlert, Rule, decide, peak
from monitoring.models import (
    OPEN_STATUSES,
    Alert,
    AlertStatus,
    BreachStart,
    MonitoringCursor,
    Severity,
)
from monitoring.observations import Observation
from workflows.models import FlowRun, StateType

ACKNOWLEDGE = "monitoring.acknowledge_alert"
RESOLVE = "monitoring.resolve_alert"
TARGET_TYPE = "alert"
RUN_FAILED_RULE = "run_failed"
FAILED_RUNS_CURSOR = "failed_runs"
# Runs reach the mirror a little after they end: each scan looks this far behind its cursor (alerts are not repeated).
FAILED_RUNS_OVERLAP = timedelta(minutes=15)
FAILED_RUNS_BATCH = 200


def _alert_values(alert: Alert) -> dict[str, Any]:
    return {
        "rule": alert.rule,
        "subject": alert.subject,
        "severity": alert.severity,
        "status": alert.status,
        "last_value": alert.last_value,
    }


# --- People's changes ---------------------------------------------------------------------------------------------


def _refuse(actor: Actor, action: str, alert: Alert, error: ServiceError) -> NoReturn:
    refuse(actor, action, error, target_type=TARGET_TYPE, target_id=alert.pk, before=_alert_values(alert))


def acknowledge_alert(actor: Actor, alert: Alert) -> Alert:
    """A person has seen a firing alert: no more reminders until it resolves (it still resolves by itself)."""
    action = "alert.acknowledge"
    if not actor.has_perm(ACKNOWLEDGE):
        _refuse(actor, action, alert, PermissionDeniedError("You may not acknowledge alerts."))
    alert.refresh_from_db()
    if alert.status != AlertStatus.FIRING:
        _refuse(actor, action, alert, OperationNotAllowed(f"The alert is {alert.status}, not firing."))
    before = _alert_values(alert)
    with transaction.atomic(durable=True):
        alert.status = AlertStatus.ACKNOWLEDGED
        alert.acknowledged_at = timezone.now()
        alert.acknowledged_by = _user_of(actor)
        alert.save(update_fields=["status", "acknowledged_at", "acknowledged_by"])
        record_audit_event(
            actor, action, target_type=TARGET_TYPE, target_id=alert.pk, before=before, after=_alert_values(alert)
        )
    return alert


def resolve_alert(actor: Actor, alert: Alert) -> Alert:
    """A person closes an open alert; if the condition persists, the next evaluation opens a new one."""
    action = "alert.resolve"
    if not actor.has_perm(RESOLVE):
        _refuse(actor, action, alert, PermissionDeniedError("You may not resolve alerts."))
    alert.refresh_from_db()
    if alert.status not in OPEN_STATUSES:
        _refuse(actor, action, alert, OperationNotAllowed("The alert is already resolved."))
    _close(actor, alert, action)
    return alert


def _user_of(actor: Actor) -> Any:
    if actor.token is not None:
        return actor.token.user
    return actor.user if actor.user is not None and actor.user.is_authenticated else None


def _close(actor: Actor, alert: Alert, action: str) -> None:
    """Resolve the alert (audited); the channels that were told it fired are told it is over."""
    before = _alert_values(alert)
    with transaction.atomic(durable=True):
        alert.status = AlertStatus.RESOLVED
        alert.resolved_at = timezone.now()
        alert.save(update_fields=["status", "resolved_at"])
        record_audit_event(
            actor, action, target_type=TARGET_TYPE, target_id=alert.pk, before=before, after=_alert_values(alert)
        )
    if alert.last_notified_at is not None:
        notify.notify_alert(alert, alert.resolved_at)


# --- The system's changes -----------------------------------------------------------------------------------------


def open_alert(
    rule: str,
    subject: str,
    severity: str,
    message: str,
    *,
    now: datetime,
    value: float | None = None,
    threshold_id: int | None = None,
    flow_run: FlowRun | None = None,
) -> Alert | None:
    """Raise an alert (audited as the system); None when one is already open for the rule and subject."""
    alert = Alert(
        rule=rule,
        subject=subject,
        severity=severity,
        message=message[:2000],
        threshold_id=threshold_id,
        flow_run=flow_run,
        first_seen=now,
        last_seen=now,
        peak_value=value,
        last_value=value,
    )
    try:
        with transaction.atomic(durable=True):
            alert.save(force_insert=True)
            BreachStart.objects.filter(rule=rule, subject=subject).delete()
            record_audit_event(
                Actor.system(), "alert.raise", target_type=TARGET_TYPE, target_id=alert.pk, after=_alert_values(alert)
            )
    except IntegrityError:  # another evaluator opened it a moment ago: one open alert per rule and subject
        return None
    return alert


def resolve_cleared_alert(rule: str, subject: str, *, now: datetime, value: float) -> Alert | None:
    """The system closes the open alert of this rule and subject, its condition gone (audited; the channels told it
    fired are told it is over). None when none is open."""
    alert = Alert.objects.filter(rule=rule, subject=subject, status__in=OPEN_STATUSES).first()
    if alert is not None:
        _resolve_by_system(alert, value, now)
    return alert


def _resolve_by_system(alert: Alert, value: float, now: datetime) -> None:
    alert.last_value, alert.last_seen = value, now
    alert.save(update_fields=["last_value", "last_seen"])
    _close(Actor.system(), alert, "alert.resolve")


def apply_observations(observations: list[Observation], now: datetime | None = None) -> list[Alert]:
    """Evaluate each observation against its threshold and apply the decision; returns the alerts notified."""
    now = now or timezone.now()
    observations = [obs for obs in observations if obs.threshold.enabled]
    rules = {obs.rule for obs in observations}
    open_alerts = {
        (alert.rule, alert.subject): alert for alert in Alert.objects.filter(status__in=OPEN_STATUSES, rule__in=rules)
    }
    breaches = {(b.rule, b.subject): b for b in BreachStart.objects.filter(rule__in=rules)}
    notified = []
    for obs in observations:
        threshold = obs.threshold
        rule = Rule(threshold.comparison, threshold.warning_level, threshold.critical_level, threshold.for_seconds)
        alert = open_alerts.get((obs.rule, obs.subject))
        breach = breaches.get((obs.rule, obs.subject))
        decision = decide(
            rule,
            obs.value,
            now,
            open_alert=OpenAlert(alert.severity, alert.status, alert.last_notified_at) if alert else None,
            breach_since=breach.since if breach else None,
            renotify_seconds=settings.ALERT_RENOTIFY_SECONDS,
        )
        alert = _apply(decision, obs, alert, breach, now)
        if alert is not None and decision.notify:
            notified.append(alert)
    for alert in notified:
        notify.notify_alert(alert, now)
    return notified


def _apply(decision: Decision, obs: Observation, alert: Alert | None, breach: BreachStart | None, now: datetime) -> Any:
    if decision.action == Action.NONE:
        _keep_breach(obs, breach, decision.breach_since)
        return None
    if decision.action == Action.OPEN:
        message = f"{obs.label}: {obs.value:g} ({decision.severity})"
        return open_alert(
            obs.rule, obs.subject, decision.severity or Severity.WARNING, message, now=now, value=obs.value,
            threshold_id=obs.threshold.pk,
        )  # fmt: skip
    assert alert is not None and obs.value is not None
    if decision.action == Action.RESOLVE:
        _resolve_by_system(alert, obs.value, now)
        return alert
    alert.last_value, alert.last_seen = obs.value, now
    alert.peak_value = peak(obs.threshold.comparison, alert.peak_value, obs.value)
    if decision.action == Action.ESCALATE:
        before = _alert_values(alert)
        alert.severity = decision.severity or alert.severity
        alert.message = f"{obs.label}: {obs.value:g} ({alert.severity})"
        with transaction.atomic(durable=True):
            alert.save()
            record_audit_event(
                Actor.system(), "alert.escalate", target_type=TARGET_TYPE, target_id=alert.pk, before=before,
                after=_alert_values(alert),
            )  # fmt: skip
        return alert
    alert.save(update_fields=["last_value", "last_seen", "peak_value"])
    return alert


def _keep_breach(obs: Observation, breach: BreachStart | None, since: datetime | None) -> None:
    if since is None and breach is not None:
        breach.delete()
    elif since is not None and breach is None:
        BreachStart.objects.update_or_create(rule=obs.rule, subject=obs.subject, defaults={"since": since})


def alert_on_failed_runs(now: datetime | None = None) -> list[Alert]:
    """One critical alert per FAILED or CRASHED run of a deployment whose rule asks for it, scanning the mirror's
    runs that ended since the stored cursor (minus an overlap for late-mirrored runs)."""
    now = now or timezone.now()
    cursor, _ = MonitoringCursor.objects.get_or_create(name=FAILED_RUNS_CURSOR, defaults={"position": now})
    runs = list(
        FlowRun.objects.filter(
            end_time__gt=cursor.position - FAILED_RUNS_OVERLAP,
            state_type__in=[StateType.FAILED, StateType.CRASHED],
            deployment__alert_rule__alert_on_failure=True,
        )
        .select_related("deployment__flow")
        .order_by("end_time")[:FAILED_RUNS_BATCH]
    )
    subjects = {f"run:{run.prefect_id}": run for run in runs}
    seen = set(Alert.objects.filter(rule=RUN_FAILED_RULE, subject__in=subjects).values_list("subject", flat=True))
    raised = []
    for subject, run in subjects.items():
        if subject in seen:
            continue
        message = f"Run {run.name} of {run.deployment} is {run.state_name or run.state_type}: {run.state_message}"
        alert = open_alert(RUN_FAILED_RULE, subject, Severity.CRITICAL, message, now=now, flow_run=run)
        if alert is not None:
            raised.append(alert)
            notify.notify_alert(alert, now)
    if runs and runs[-1].end_time and runs[-1].end_time > cursor.position:
        cursor.position = runs[-1].end_time
        cursor.save(update_fields=["position"])
    return raised
