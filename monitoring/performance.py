"""Run durations per deployment over a window and the window before it (read-only, from the mirror): p50 and p95
of the completed runs, and which deployments got slower."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime

from monitoring.figures import percentile
from workflows.models import FlowRun, StateType


@dataclass(frozen=True)
class Durations:
    runs: int
    p50: float
    p95: float


@dataclass(frozen=True)
class DeploymentPerformance:
    deployment: str
    current: Durations
    previous: Durations

    def change_percent(self) -> float | None:
        """How much the p95 grew from the previous window, in percent; None without a previous p95."""
        if not self.previous.runs or self.previous.p95 <= 0:
            return None
        return round(100.0 * (self.current.p95 - self.previous.p95) / self.previous.p95, 2)


def _durations_by_deployment(start: datetime, end: datetime) -> dict[str, list[float]]:
    runs = FlowRun.objects.filter(
        state_type=StateType.COMPLETED, end_time__gte=start, end_time__lt=end, deployment__isnull=False
    ).values_list("deployment__flow__name", "deployment__name", "total_run_time", "start_time", "end_time")
    durations: dict[str, list[float]] = defaultdict(list)
    for flow_name, name, run_time, started, ended in runs.iterator(chunk_size=5000):
        seconds = run_time or ((ended - started).total_seconds() if started and ended else 0.0)
        durations[f"{flow_name}/{name}"].append(seconds)
    return durations


def _summary(values: list[float]) -> Durations:
    return Durations(len(values), round(percentile(values, 0.5), 3), round(percentile(values, 0.95), 3))


def compare_windows(start: datetime, end: datetime) -> list[DeploymentPerformance]:
    """Each deployment with completed runs in [start, end), against the window of the same length before it."""
    current = _durations_by_deployment(start, end)
    previous = _durations_by_deployment(start - (end - start), start)
    return [
        DeploymentPerformance(name, _summary(values), _summary(previous.get(name, [])))
        for name, values in sorted(current.items())
    ]


def regressions(items: list[DeploymentPerformance], over_percent: float, min_runs: int) -> list[DeploymentPerformance]:
    """Deployments whose p95 grew more than `over_percent`, with at least `min_runs` runs in both windows."""
    return [
        item
        for item in items
        if min(item.current.runs, item.previous.runs) >= min_runs
        and (change := item.change_percent()) is not None
        and change > over_percent
    ]
