"""The daily digest's content (read-only): a day's finished runs by state, its failures, the open alerts and the
health score with each component's status; and which channels get it."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db.models import Count

from monitoring.components import health_score
from monitoring.models import OPEN_STATUSES, Alert, ComponentHealth, NotificationChannel, Severity
from workflows.models import FlowRun, StateType

FAILED_TYPES = (StateType.FAILED, StateType.CRASHED)


def digest_channels(name: str = "") -> list[NotificationChannel]:
    """The enabled channels that take everything (warnings, no deployment or tag filter), or the one named."""
    channels = NotificationChannel.objects.filter(enabled=True)
    if name:
        return list(channels.filter(name=name))
    return list(channels.filter(min_severity=Severity.WARNING, deployment_filter="", tag_filter=""))


def build_digest(start: datetime, end: datetime, max_items: int = 10) -> dict[str, Any]:
    ended = FlowRun.objects.filter(end_time__gte=start, end_time__lt=end)
    by_state = dict(ended.values_list("state_type").annotate(n=Count("pk")).order_by())
    failures = ended.filter(state_type__in=FAILED_TYPES).select_related("flow", "deployment").order_by("-end_time")
    alerts = Alert.objects.filter(status__in=OPEN_STATUSES)
    return {
        "start": start.isoformat(),
        "end": end.isoformat(),
        "runs": {"total": sum(by_state.values()), **{state.lower(): n for state, n in sorted(by_state.items())}},
        "failures": [
            {
                "run": run.name,
                "deployment": str(run.deployment) if run.deployment else run.flow.name,
                "state": run.state_type,
                "message": run.state_message[:200],
            }
            for run in failures[:max_items]
        ],
        "open_alerts": {
            "total": alerts.count(),
            "critical": alerts.filter(severity=Severity.CRITICAL).count(),
            "newest": [f"[{a.severity}] {a.message[:160]}" for a in alerts.order_by("-last_seen")[:max_items]],
        },
        "health": {
            "score": health_score(),
            "components": dict(ComponentHealth.objects.values_list("component", "status").order_by("component")),
        },
    }


def digest_text(digest: dict[str, Any]) -> str:
    runs, alerts, health = digest["runs"], digest["open_alerts"], digest["health"]
    counts = ", ".join(f"{n} {state}" for state, n in runs.items() if state != "total") or "none"
    lines = [
        f"Daily digest, {digest['start'][:10]}: {runs['total']} runs finished ({counts}).",
        f"Open alerts: {alerts['total']} ({alerts['critical']} critical). Health score: {health['score']:g}/100.",
    ]
    if digest["failures"]:
        lines.append("Failures:")
        lines += [f"- {f['deployment']} {f['run']}: {f['state']} {f['message']}" for f in digest["failures"]]
    if alerts["newest"]:
        lines.append("Alerts:")
        lines += [f"- {text}" for text in alerts["newest"]]
    down = [name for name, status in health["components"].items() if status != "ok"]
    lines.append(f"Components not ok: {', '.join(down)}." if down else "Every component is ok.")
    return "\n".join(lines)
