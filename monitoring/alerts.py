"""Rule evaluation as pure functions: given a rule, the value just measured, the open alert (if any) and when the
breach began, decide what happens. No database, no clock: `monitoring.services.apply_observations` does the writes.

Lifecycle (docs/architecture.md, "Monitoring"):
- a value beyond the warning level starts a breach; once it has lasted `for_seconds` an alert opens (firing), at
  critical severity when the value is beyond the critical level, and is notified;
- while open, the alert keeps its peak and last value; a warning alert whose value goes beyond critical escalates
  and is notified at once; an unacknowledged alert is notified again once `renotify_seconds` have passed since the
  last notification (the cooldown), an acknowledged one never;
- hysteresis: the alert resolves only when the value is back under the warning level (a critical alert whose
  value drops between warning and critical stays open, at its severity);
- one open alert per (rule, subject): an open alert is updated, never duplicated.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from monitoring.models import SEVERITY_RANK, AlertStatus, Comparison, Severity


@dataclass(frozen=True)
class Rule:
    comparison: str
    warning: float
    critical: float
    for_seconds: int = 0


@dataclass(frozen=True)
class OpenAlert:
    severity: str
    status: str
    last_notified_at: datetime | None


class Action(StrEnum):
    NONE = "none"  # nothing to do (also: breach too short so far)
    OPEN = "open"
    UPDATE = "update"
    ESCALATE = "escalate"
    RESOLVE = "resolve"


@dataclass(frozen=True)
class Decision:
    action: Action
    severity: str | None = None
    notify: bool = False
    breach_since: datetime | None = None  # what to keep as the breach start (None: no breach pending)


def beyond(comparison: str, value: float, level: float) -> bool:
    return value < level if comparison == Comparison.BELOW else value > level


def level_of(rule: Rule, value: float) -> str | None:
    """The severity `value` reaches under `rule`, or None when it is within the warning level."""
    if beyond(rule.comparison, value, rule.critical):
        return Severity.CRITICAL
    if beyond(rule.comparison, value, rule.warning):
        return Severity.WARNING
    return None


def decide(
    rule: Rule,
    value: float | None,
    now: datetime,
    *,
    open_alert: OpenAlert | None,
    breach_since: datetime | None,
    renotify_seconds: int,
) -> Decision:
    """What to do about one (rule, subject) after measuring `value` (None: not measured, so nothing changes)."""
    if value is None:
        return Decision(Action.NONE, breach_since=breach_since)
    level = level_of(rule, value)
    if open_alert is not None:
        if level is None:
            return Decision(Action.RESOLVE)
        if SEVERITY_RANK[Severity(level)] > SEVERITY_RANK[Severity(open_alert.severity)]:
            return Decision(Action.ESCALATE, severity=level, notify=open_alert.status == AlertStatus.FIRING)
        due = _renotify_due(open_alert, now, renotify_seconds)
        return Decision(Action.UPDATE, severity=open_alert.severity, notify=due)
    if level is None:
        return Decision(Action.NONE)
    since = breach_since or now
    if now - since < timedelta(seconds=rule.for_seconds):
        return Decision(Action.NONE, breach_since=since)
    return Decision(Action.OPEN, severity=level, notify=True)


def _renotify_due(alert: OpenAlert, now: datetime, renotify_seconds: int) -> bool:
    if alert.status != AlertStatus.FIRING:
        return False
    return alert.last_notified_at is None or now - alert.last_notified_at >= timedelta(seconds=renotify_seconds)


def peak(comparison: str, previous: float | None, value: float) -> float:
    """The worst value seen: the highest for an upper threshold, the lowest for a lower one."""
    if previous is None:
        return value
    return min(previous, value) if comparison == Comparison.BELOW else max(previous, value)
