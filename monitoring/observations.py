"""What the thresholds are evaluated against: one `Observation` per (threshold, subject) from the latest samples,
the run health figures, the sync lag and the component checks. Subjects name what an alert is about:
`host:<name>`, `disk:<host>:<mount>`, `deployment:<flow/name>`, `overall`, `sync`, `component:<name>`."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from monitoring.components import STATUS_VALUE
from monitoring.models import ComponentHealth, ComponentStatus, Metric, Scope, SystemSample, Threshold
from monitoring.run_health import RunHealth

HOST_METRICS = {
    Metric.CPU_PERCENT: "cpu_percent",
    Metric.MEMORY_PERCENT: "memory_percent",
    Metric.SWAP_PERCENT: "swap_percent",
    Metric.LOAD1: "load1",
}
RUN_METRICS = {Metric.RUN_ERROR_RATE: "failure_rate", Metric.RUN_RETRY_RATE: "retry_rate", Metric.LATE_RUNS: "late"}


@dataclass(frozen=True)
class Observation:
    threshold: Threshold
    subject: str
    value: float | None
    label: str

    @property
    def rule(self) -> str:
        return self.threshold.rule_key


def _matches(threshold: Threshold, value: str) -> bool:
    return not threshold.scope_value or threshold.scope_value == value


def system_observations(thresholds: Iterable[Threshold], samples: list[SystemSample]) -> list[Observation]:
    found = []
    for threshold in thresholds:
        if threshold.metric in HOST_METRICS:
            attribute = HOST_METRICS[Metric(threshold.metric)]
            found += [
                Observation(threshold, f"host:{s.host}", getattr(s, attribute), f"{threshold.name} on {s.host}")
                for s in samples
                if threshold.scope not in (Scope.HOST,) or _matches(threshold, s.host)
            ]
        elif threshold.metric == Metric.DISK_PERCENT:
            found += [
                Observation(threshold, f"disk:{s.host}:{mount}", percent, f"{threshold.name} of {mount} on {s.host}")
                for s in samples
                for mount, percent in sorted(s.disk_percent.items())
                if _matches(threshold, mount)
            ]
    return found


def run_observations(
    thresholds: Iterable[Threshold], overall: RunHealth, per_deployment: list[RunHealth]
) -> list[Observation]:
    found = []
    for threshold in thresholds:
        if threshold.metric not in RUN_METRICS:
            continue
        attribute = RUN_METRICS[Metric(threshold.metric)]
        if threshold.scope == Scope.DEPLOYMENT:
            found += [
                Observation(
                    threshold,
                    f"deployment:{health.deployment_name}",
                    getattr(health, attribute),
                    f"{threshold.name} of {health.deployment_name}",
                )
                for health in per_deployment
                if _matches(threshold, health.deployment_name)
            ]
        else:
            found.append(Observation(threshold, "overall", getattr(overall, attribute), f"{threshold.name} (all runs)"))
    return found


def health_observations(
    thresholds: Iterable[Threshold], components: list[ComponentHealth], sync_lag: float | None
) -> list[Observation]:
    found = []
    for threshold in thresholds:
        if threshold.metric == Metric.SYNC_LAG_SECONDS:
            found.append(Observation(threshold, "sync", sync_lag, f"{threshold.name} (flow-run sync)"))
        elif threshold.metric == Metric.COMPONENT_DOWN:
            found += [
                Observation(
                    threshold,
                    f"component:{row.component}",
                    float(STATUS_VALUE[ComponentStatus(row.status)]),
                    f"{row.component} is {row.status}" + (f": {row.message}" if row.message else ""),
                )
                for row in components
                if _matches(threshold, row.component)
            ]
    return found
