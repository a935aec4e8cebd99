"""Component health: each check answers ok / degraded / down with its latency, and `check_components()` keeps the
last answer of each in `ComponentHealth` (`since` moves only when the status changes).

| component | check | ok / degraded / down |
|---|---|---|
| database | `SELECT 1` | answers / — / error |
| broker | kombu connection `ensure_connection`, 2 s | connects / — / error |
| workers | Celery `inspect().ping()`, 1.5 s | a worker answers / — / none |
| beat | heartbeat that beat-scheduled `monitoring.sample_host` writes | < 3 ticks old / < 10 / older or none |
| prefect_api | `prefect_api.check_health()` | healthy / slower than 2 s / error |
| listener | `workflows.listener.HEARTBEAT_CACHE_KEY` | < 60 s old / < 300 s / older or none |
| sync | `SyncStatus` of the flow-run stream | last success < 3 intervals / < 10 / older or none |

The health score (0 to 100) weighs them (`COMPONENT_WEIGHTS`, 80 points: ok full, degraded half, down none) and takes
the open alerts off the remaining 20 (10 per critical, 5 per warning, never below 0).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.db.models import Count
from django.utils import timezone

from controlplane.celery import app as celery_app
from monitoring.models import OPEN_STATUSES, Alert, ComponentHealth, ComponentStatus, Severity
from workflows import prefect_api
from workflows.listener import HEARTBEAT_CACHE_KEY as LISTENER_HEARTBEAT_KEY
from workflows.models import SyncStatus
from workflows.sync import FLOW_RUNS_STREAM

BEAT_HEARTBEAT_KEY = "monitoring:beat:heartbeat"
COMPONENT_WEIGHTS = {
    "database": 20,
    "prefect_api": 15,
    "broker": 10,
    "workers": 10,
    "beat": 10,
    "sync": 10,
    "listener": 5,
}
ALERT_POINTS = 20
ALERT_PENALTY = {Severity.CRITICAL: 10, Severity.WARNING: 5}
STATUS_FACTOR = {ComponentStatus.OK: 1.0, ComponentStatus.DEGRADED: 0.5, ComponentStatus.DOWN: 0.0}
STATUS_VALUE = {ComponentStatus.OK: 0, ComponentStatus.DEGRADED: 1, ComponentStatus.DOWN: 2}
PREFECT_SLOW_MS = 2000.0
LISTENER_OK_SECONDS, LISTENER_DOWN_SECONDS = 60, 300


@dataclass(frozen=True)
class Check:
    status: str
    message: str = ""
    latency_ms: float | None = None


def _timed(probe: Callable[[], Check]) -> Check:
    started = time.perf_counter()
    try:
        result = probe()
    except Exception as exc:  # a check reports every failure as "down", whatever raised
        return Check(ComponentStatus.DOWN, f"{type(exc).__name__}: {exc}"[:500], _ms(started))
    return Check(result.status, result.message, result.latency_ms if result.latency_ms is not None else _ms(started))


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 2)


def _by_age(age: float | None, ok_below: float, down_from: float, what: str) -> Check:
    if age is None:
        return Check(ComponentStatus.DOWN, f"no {what} yet")
    if age < ok_below:
        return Check(ComponentStatus.OK, f"{what} {age:.0f}s ago")
    status = ComponentStatus.DEGRADED if age < down_from else ComponentStatus.DOWN
    return Check(status, f"{what} {age:.0f}s ago")


def _age_of(timestamp: float | datetime | None) -> float | None:
    if timestamp is None:
        return None
    now = timezone.now()
    if isinstance(timestamp, datetime):
        return max(0.0, (now - timestamp).total_seconds())
    return max(0.0, now.timestamp() - float(timestamp))


def check_database() -> Check:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()
    return Check(ComponentStatus.OK)


def check_broker() -> Check:
    with celery_app.connection_for_write() as conn:
        conn.ensure_connection(max_retries=1, timeout=2)
    return Check(ComponentStatus.OK)


def check_workers() -> Check:
    replies = celery_app.control.inspect(timeout=1.5).ping() or {}
    if not replies:
        return Check(ComponentStatus.DOWN, "no Celery worker answered")
    return Check(ComponentStatus.OK, f"{len(replies)} worker(s): {', '.join(sorted(replies))}"[:500])


def check_beat() -> Check:
    tick = settings.MONITORING_SAMPLE_SECONDS
    return _by_age(_age_of(cache.get(BEAT_HEARTBEAT_KEY)), 3 * tick, 10 * tick, "last scheduled sample")


def check_prefect() -> Check:
    started = time.perf_counter()
    healthy = prefect_api.check_health()
    latency = _ms(started)
    if not healthy:
        return Check(ComponentStatus.DOWN, "Prefect's /health did not answer true", latency)
    if latency > PREFECT_SLOW_MS:
        return Check(ComponentStatus.DEGRADED, f"answered in {latency:.0f} ms", latency)
    return Check(ComponentStatus.OK, "", latency)


def check_listener() -> Check:
    age = _age_of(cache.get(LISTENER_HEARTBEAT_KEY))
    return _by_age(age, LISTENER_OK_SECONDS, LISTENER_DOWN_SECONDS, "listener heartbeat")


def sync_lag_seconds() -> float | None:
    """Seconds since the flow-run sync last succeeded (None: never)."""
    last = SyncStatus.objects.filter(stream=FLOW_RUNS_STREAM).values_list("last_success_at", flat=True).first()
    return _age_of(last)


def check_sync() -> Check:
    interval = settings.SYNC_INTERVAL_SECONDS
    return _by_age(sync_lag_seconds(), 3 * interval, 10 * interval, "last successful sync")


CHECKS: dict[str, Callable[[], Check]] = {
    "database": check_database,
    "broker": check_broker,
    "workers": check_workers,
    "beat": check_beat,
    "prefect_api": check_prefect,
    "listener": check_listener,
    "sync": check_sync,
}


def run_check(name: str) -> Check:
    """One check, timed, without recording it (readiness probes)."""
    return _timed(CHECKS[name])


def record_beat_heartbeat() -> None:
    cache.set(BEAT_HEARTBEAT_KEY, timezone.now().timestamp(), timeout=None)


def check_components(names: list[str] | None = None) -> list[ComponentHealth]:
    """Run the checks and keep their answers; returns the rows, in `CHECKS` order."""
    now = timezone.now()
    existing = {row.component: row for row in ComponentHealth.objects.all()}
    rows = []
    for name in CHECKS:
        if names is not None and name not in names:
            continue
        check = run_check(name)
        row = existing.get(name) or ComponentHealth(component=name, since=now)
        if row.status != check.status:
            row.since = now
        row.status, row.message, row.latency_ms, row.checked_at = check.status, check.message, check.latency_ms, now
        row.save()
        rows.append(row)
    return rows


def open_alerts_by_severity() -> dict[str, int]:
    return dict(
        Alert.objects.filter(status__in=OPEN_STATUSES).values_list("severity").annotate(n=Count("pk")).order_by()
    )


def health_score(components: list[ComponentHealth] | None = None, open_alerts: dict[str, int] | None = None) -> float:
    """0 to 100: component weights (80 points) plus 20 points less the open alerts' penalties (module docstring).
    `open_alerts` ({severity: count}) saves the query when the caller has it already."""
    rows = components if components is not None else list(ComponentHealth.objects.all())
    statuses = {row.component: row.status for row in rows}
    score = sum(weight * STATUS_FACTOR.get(statuses.get(name, ""), 0.0) for name, weight in COMPONENT_WEIGHTS.items())
    counts = open_alerts if open_alerts is not None else open_alerts_by_severity()
    penalty = sum(ALERT_PENALTY.get(severity, 0) * n for severity, n in counts.items())
    return round(score + max(0, ALERT_POINTS - penalty), 1)
