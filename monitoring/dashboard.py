"""What the operator's dashboard (the admin index) shows, as one JSON-ready dict: the health score and components,
open alerts, active and late runs, the last 24 h of finished runs per hour by outcome (and so the success rate),
the host's CPU / memory / disk over 1 h, 24 h or 7 d, recent audit activity (to those who may read the audit log)
and the sync lag.

A fixed number of queries whatever the size of the mirror (asserted in tests/monitoring/test_dashboard.py), each on
an index: runs by `(state_type, -expected_start_time)` and `-end_time`, samples by `(host, -taken_at)` and
aggregated in SQL per minute or hour (at most ~1,500 rows), audit events by `-id`.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db.models import Avg, Count, Max
from django.db.models.functions import TruncHour, TruncMinute
from django.urls import reverse
from django.utils import timezone

from controlplane.audit.models import AuditEvent
from monitoring.components import COMPONENT_WEIGHTS, health_score, open_alerts_by_severity, sync_lag_seconds
from monitoring.models import OPEN_STATUSES, Alert, ComponentHealth, Resolution, SampleRollup, SystemSample
from workflows.models import FlowRun, StateType

ACTIVE_STATES = [StateType.PENDING, StateType.RUNNING, StateType.CANCELLING, StateType.PAUSED]
OUTCOMES = [StateType.COMPLETED, StateType.FAILED, StateType.CRASHED, StateType.CANCELLED]
# range → (window, SQL bucket, buckets of the SQL bucket merged into one point)
RANGES = {
    "1h": (timedelta(hours=1), TruncMinute, 1),
    "24h": (timedelta(hours=24), TruncMinute, 10),
    "7d": (timedelta(days=7), TruncHour, 1),
}
DEFAULT_RANGE = "1h"
LISTED = 8
# Counts stop here (shown as "1000+"): a count reads every matching index entry and its row, and 90k late runs cost
# ~150 ms at 1M mirrored runs (bench/RESULTS.md, "Dashboard"), while "over a thousand" says all an operator needs.
COUNT_CAP = 1000
RUN_ITEM_FIELDS = ("name", "state_name", "state_type", "start_time", "flow__name")


def dashboard(*, host_range: str = DEFAULT_RANGE, with_activity: bool = False) -> dict[str, Any]:
    now = timezone.now()
    open_alerts = open_alerts_by_severity()
    return {
        "generated_at": now.isoformat(),
        "health": _health(open_alerts),
        "alerts": _alerts(open_alerts),
        "runs": _runs(now),
        "host": _host(now, host_range if host_range in RANGES else DEFAULT_RANGE),
        "activity": _activity() if with_activity else None,
        "sync": {"lag_seconds": _rounded(sync_lag_seconds()), "interval_seconds": settings.SYNC_INTERVAL_SECONDS},
    }


def _rounded(value: float | None, digits: int = 1) -> float | None:
    return None if value is None else round(value, digits)


def _health(open_alerts: dict[str, int]) -> dict[str, Any]:
    rows = list(ComponentHealth.objects.all())
    by_name = {row.component: row for row in rows}
    components = [
        {
            "name": name,
            "status": by_name[name].status if name in by_name else "unknown",
            "message": by_name[name].message if name in by_name else "never checked",
            "checked_at": by_name[name].checked_at.isoformat() if name in by_name else None,
        }
        for name in COMPONENT_WEIGHTS
    ]
    return {"score": health_score(rows, open_alerts), "components": components}


def _alerts(counts: dict[str, int]) -> dict[str, Any]:
    newest = Alert.objects.filter(status__in=OPEN_STATUSES).order_by("-last_seen")[:LISTED]
    items = [
        {
            "severity": alert.severity,
            "status": alert.status,
            "subject": alert.subject,
            "message": alert.message[:200],
            "last_seen": alert.last_seen.isoformat(),
            "url": reverse("admin:monitoring_alert_change", args=[alert.pk]),
        }
        for alert in newest
    ]
    return {"open": sum(counts.values()), "by_severity": counts, "items": items}


def _runs(now: datetime) -> dict[str, Any]:
    live = FlowRun.objects.filter(deleted_in_prefect=False)
    active = live.filter(state_type__in=ACTIVE_STATES)
    late_before = now - timedelta(seconds=settings.LATE_RUN_GRACE_SECONDS)
    per_hour = _finished_per_hour(live, now)
    finished = Counter()
    for bucket in per_hour:
        finished.update({outcome: bucket[outcome] for outcome in OUTCOMES})
    total = sum(finished.values())
    # By expected start (the `(state_type, -expected_start_time)` index), not start time: a descending scan of
    # start_time meets every scheduled run's NULL first.
    listed = active.select_related("flow").only(*RUN_ITEM_FIELDS).order_by("-expected_start_time")[:LISTED]
    late = live.filter(state_type=StateType.SCHEDULED, expected_start_time__lt=late_before)
    return {
        "active": _capped_count(active),
        "active_items": [_run_item(run) for run in listed],
        "late": _capped_count(late),
        "count_cap": COUNT_CAP,
        "finished_24h": dict(finished),
        "success_rate_24h": round(100.0 * finished[StateType.COMPLETED] / total, 1) if total else None,
        "per_hour": per_hour,
    }


def _capped_count(runs: Any) -> int:
    """How many, up to `COUNT_CAP` + 1 (one more than the cap means "more than the cap")."""
    return runs[: COUNT_CAP + 1].count()


def _finished_per_hour(runs: Any, now: datetime) -> list[dict[str, Any]]:
    """24 hourly buckets (oldest first) of runs that ended in each, by outcome."""
    first_hour = now.replace(minute=0, second=0, microsecond=0) - timedelta(hours=23)
    rows = (
        runs.filter(end_time__gte=first_hour, state_type__in=OUTCOMES)
        .annotate(hour=TruncHour("end_time"))
        .values_list("hour", "state_type")
        .annotate(n=Count("pk"))
        .order_by()
    )
    counts = {(hour, state): n for hour, state, n in rows}
    buckets = []
    for index in range(24):
        hour = first_hour + timedelta(hours=index)
        buckets.append({"hour": hour.isoformat(), **{state: counts.get((hour, state), 0) for state in OUTCOMES}})
    return buckets


def _run_item(run: FlowRun) -> dict[str, Any]:
    return {
        "name": run.name,
        "flow": run.flow.name,
        "state": run.state_name or run.state_type,
        "state_type": run.state_type,
        "start_time": run.start_time.isoformat() if run.start_time else None,
        "url": reverse("admin:workflows_flowrun_change", args=[run.pk]),
    }


def _host(now: datetime, host_range: str) -> dict[str, Any]:
    window, trunc, merge = RANGES[host_range]
    # The newest row by id (the primary key's index; samples are written in time order), not by taken_at (no index
    # of its own: `(host, -taken_at)` leads with the host).
    host = SystemSample.objects.order_by("-pk").values_list("host", flat=True).first()
    if host is None:
        return {"name": None, "range": host_range, "points": []}
    if trunc is TruncHour and (hourly := _hourly_points(host, now - window)):
        return {"name": host, "range": host_range, "points": hourly}  # raw samples are kept 48 h only
    rows = (
        SystemSample.objects.filter(host=host, taken_at__gte=now - window)
        .annotate(bucket=trunc("taken_at"))
        .values("bucket")
        .annotate(cpu=Avg("cpu_percent"), memory=Avg("memory_percent"), last_id=Max("pk"))
        .order_by("bucket")
    )
    points = _merged(list(rows), merge)
    newest = [point["last_id"] for point in points]
    disks = dict(SystemSample.objects.filter(pk__in=newest).values_list("pk", "disk_percent"))
    for point in points:  # the fullest mount of the bucket's newest sample
        point["disk"] = _rounded(max(disks.get(point.pop("last_id"), {}).values(), default=None))
    return {"name": host, "range": host_range, "points": points}


def _hourly_points(host: str, since: datetime) -> list[dict[str, Any]]:
    """The host's hourly roll-ups (monitoring/rollups.py): mean CPU and memory, the fullest mount's mean."""
    rollups = SampleRollup.objects.filter(resolution=Resolution.HOUR, host=host, bucket__gte=since).order_by("bucket")
    return [
        {
            "t": bucket.isoformat(),
            "cpu": _rounded((values.get("cpu_percent") or [None])[0]),
            "memory": _rounded((values.get("memory_percent") or [None])[0]),
            "disk": _rounded(max((pair[0] for pair in values.get("disk_percent", {}).values()), default=None)),
        }
        for bucket, values in rollups.values_list("bucket", "values")
    ]


def _merged(rows: list[dict[str, Any]], merge: int) -> list[dict[str, Any]]:
    """Every `merge` consecutive SQL buckets as one point: mean CPU / memory, the newest sample's id."""
    points = []
    for start in range(0, len(rows), merge):
        group = rows[start : start + merge]
        points.append(
            {
                "t": group[0]["bucket"].isoformat(),
                "cpu": _rounded(sum(row["cpu"] for row in group) / len(group)),
                "memory": _rounded(sum(row["memory"] for row in group) / len(group)),
                "last_id": max(row["last_id"] for row in group),
            }
        )
    return points


def _activity() -> list[dict[str, Any]]:
    events = AuditEvent.objects.only("occurred_at", "actor_label", "action", "outcome", "target_type", "target_id")
    return [
        {
            "at": event.occurred_at.isoformat(),
            "actor": event.actor_label,
            "action": event.action,
            "outcome": event.outcome,
            "target": f"{event.target_type} {event.target_id}".strip(),
        }
        for event in events.order_by("-id")[:LISTED]
    ]
