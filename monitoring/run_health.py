"""Run health over a window, per deployment and overall, from SQL aggregates on the mirror.

- runs: runs expected to start within the window; finished: those in a terminal state;
- success rate = COMPLETED / finished; failure rate = (FAILED + CRASHED) / finished; retry rate = runs with
  `run_count > 1` / finished (all in percent, None without finished runs);
- late: SCHEDULED runs whose expected start is more than `LATE_RUN_GRACE_SECONDS` ago (any age);
- slow: finished runs in the window that took over twice their deployment's median (p50) duration, the median taken
  over the deployment's last `DURATION_BASELINE_RUNS` completed runs (one bounded query, medians in Python).
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Count, Q, QuerySet
from django.utils import timezone

from workflows.models import Deployment, FlowRun, StateType

SLOW_FACTOR = 2.0
DURATION_BASELINE_RUNS = 5000
_FINISHED = Q(state_type__in=[StateType.COMPLETED, StateType.FAILED, StateType.CRASHED, StateType.CANCELLED])


def _percent(part: int, whole: int) -> float | None:
    return round(100.0 * part / whole, 2) if whole else None


@dataclass(frozen=True)
class RunHealth:
    deployment_id: int | None
    deployment_name: str  # "" for the overall figures
    runs: int = 0
    finished: int = 0
    completed: int = 0
    failed: int = 0
    retried: int = 0
    late: int = 0
    slow: int = 0
    median_duration_seconds: float | None = None

    @property
    def success_rate(self) -> float | None:
        return _percent(self.completed, self.finished)

    @property
    def failure_rate(self) -> float | None:
        return _percent(self.failed, self.finished)

    @property
    def retry_rate(self) -> float | None:
        return _percent(self.retried, self.finished)


def _aggregates(runs: QuerySet[FlowRun], since: datetime, late_before: datetime) -> dict[int | None, dict[str, int]]:
    windowed = (
        runs.filter(expected_start_time__gte=since)
        .values("deployment_id")
        .annotate(
            runs=Count("pk"),
            finished=Count("pk", filter=_FINISHED),
            completed=Count("pk", filter=Q(state_type=StateType.COMPLETED)),
            failed=Count("pk", filter=Q(state_type__in=[StateType.FAILED, StateType.CRASHED])),
            retried=Count("pk", filter=_FINISHED & Q(run_count__gt=1)),
        )
        .order_by()
    )
    late = (
        runs.filter(state_type=StateType.SCHEDULED, expected_start_time__lt=late_before)
        .values("deployment_id")
        .annotate(late=Count("*"))  # COUNT(*), not COUNT(id): an index-only scan of flowrun_active_idx
        .order_by()
    )
    figures: dict[int | None, dict[str, int]] = defaultdict(dict)
    for row in [*windowed, *late]:
        figures[row.pop("deployment_id")].update(row)
    return figures


def _durations(runs: QuerySet[FlowRun], since: datetime) -> dict[int | None, tuple[float | None, int]]:
    """Per deployment: the median duration of its recent completed runs, and how many in the window took over
    `SLOW_FACTOR` times that."""
    rows = (
        runs.filter(state_type=StateType.COMPLETED, end_time__isnull=False)
        .order_by("-end_time")
        .values_list("deployment_id", "total_run_time", "expected_start_time")[:DURATION_BASELINE_RUNS]
    )
    by_deployment: dict[int | None, list[tuple[float, datetime | None]]] = defaultdict(list)
    for deployment_id, duration, expected in rows:
        by_deployment[deployment_id].append((duration, expected))
    result: dict[int | None, tuple[float | None, int]] = {}
    for deployment_id, items in by_deployment.items():
        median = statistics.median(duration for duration, _ in items)
        limit = SLOW_FACTOR * median
        slow = sum(1 for duration, expected in items if expected and expected >= since and duration > limit)
        result[deployment_id] = (median if median > 0 else None, slow if median > 0 else 0)
    return result


def run_health(
    window: timedelta | None = None, deployment_id: int | None = None, now: datetime | None = None
) -> tuple[RunHealth, list[RunHealth]]:
    """The overall figures and one `RunHealth` per deployment with runs (only `deployment_id`'s when given)."""
    now = now or timezone.now()
    since = now - (window or timedelta(seconds=settings.RUN_HEALTH_WINDOW_SECONDS))
    late_before = now - timedelta(seconds=settings.LATE_RUN_GRACE_SECONDS)
    runs = FlowRun.objects.filter(deleted_in_prefect=False)
    if deployment_id is not None:
        runs = runs.filter(deployment_id=deployment_id)
    figures = _aggregates(runs, since, late_before)
    durations = _durations(runs, since)
    names = {d.pk: d.full_name for d in Deployment.objects.select_related("flow").filter(pk__in=list(figures))}
    per_deployment = [
        RunHealth(
            deployment_id=key,
            deployment_name=names.get(key, "") if key is not None else "",
            median_duration_seconds=durations.get(key, (None, 0))[0],
            slow=durations.get(key, (None, 0))[1],
            **values,
        )
        for key, values in figures.items()
        if key is not None
    ]
    per_deployment.sort(key=lambda health: health.deployment_name)
    totals = {name: sum(values.get(name, 0) for values in figures.values()) for name in _COUNTED}
    overall = RunHealth(
        deployment_id=deployment_id,
        deployment_name="",
        slow=sum(slow for _, slow in durations.values()),
        **totals,
    )
    return overall, per_deployment


_COUNTED = ("runs", "finished", "completed", "failed", "retried", "late")
