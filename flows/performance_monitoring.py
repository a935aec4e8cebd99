"""`performance_monitoring`: p50 / p95 duration of each deployment's completed runs in the window against the
window before it; a table artifact, and an alert for each deployment whose p95 grew more than the threshold."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.utils import timezone
from prefect import flow, get_run_logger, task
from prefect.artifacts import create_table_artifact
from prefect.cache_policies import NO_CACHE

from flows.alerting import alert_on_failure, raise_alert
from monitoring import performance
from monitoring.models import Severity

REGRESSION_RULE = "duration_regression"
ARTIFACT_KEY = "performance-monitoring"


@task(cache_policy=NO_CACHE)
def compare_durations(start: Any, end: Any) -> list[performance.DeploymentPerformance]:
    return performance.compare_windows(start, end)


@task(cache_policy=NO_CACHE)
def alert_on_regressions(regressed: list[performance.DeploymentPerformance], over_percent: float) -> list[str]:
    alerted = []
    for item in regressed:
        change = item.change_percent() or 0.0
        message = (
            f"{item.deployment}: p95 duration {item.current.p95:g} s, was {item.previous.p95:g} s "
            f"(+{change:g} % > {over_percent:g} %; p50 {item.previous.p50:g} → {item.current.p50:g} s)"
        )
        severity = Severity.CRITICAL if change >= 2 * over_percent else Severity.WARNING
        if raise_alert(REGRESSION_RULE, f"deployment:{item.deployment}", severity, message, change):
            alerted.append(item.deployment)
    return alerted


def table_rows(items: list[performance.DeploymentPerformance]) -> list[dict[str, Any]]:
    return [
        {
            "deployment": item.deployment,
            "runs": item.current.runs,
            "p50_s": item.current.p50,
            "p95_s": item.current.p95,
            "previous_runs": item.previous.runs,
            "previous_p50_s": item.previous.p50,
            "previous_p95_s": item.previous.p95,
            "p95_change_percent": item.change_percent(),
        }
        for item in items
    ]


@flow(name="performance_monitoring", on_failure=[alert_on_failure])
def performance_monitoring(
    window_hours: float = 24.0, regression_percent: float = 50.0, min_runs: int = 5
) -> dict[str, Any]:
    """Compare the last `window_hours` with the `window_hours` before; a deployment with at least `min_runs`
    completed runs in both whose p95 grew more than `regression_percent` raises an alert."""
    end = timezone.now()
    start = end - timedelta(hours=window_hours)
    items = compare_durations(start, end)
    rows = table_rows(items)
    create_table_artifact(
        rows or [{"deployment": "no completed runs in the window"}],
        key=ARTIFACT_KEY,
        description=f"Run durations, {start:%Y-%m-%d %H:%M} to {end:%Y-%m-%d %H:%M} UTC, against the window before",
    )
    regressed = performance.regressions(items, regression_percent, min_runs)
    alerted = alert_on_regressions(regressed, regression_percent)
    summary = {"deployments": rows, "regressed": [item.deployment for item in regressed], "alerted": alerted}
    get_run_logger().info("performance: %d deployments, regressed: %s", len(rows), summary["regressed"])
    return summary
