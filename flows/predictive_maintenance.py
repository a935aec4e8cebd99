"""`predictive_maintenance`: fit each disk's usage trend from the monitoring samples, forecast when it crosses its
threshold, and alert for each disk that will within the horizon; a markdown artifact with every forecast."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.utils import timezone
from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE

from flows.alerting import alert_on_failure, raise_alert
from flows.reports import markdown_table
from monitoring.disk_forecast import DiskForecast, forecast_disks
from monitoring.models import Severity

FORECAST_RULE = "disk_forecast"
ARTIFACT_KEY = "predictive-maintenance"


@task(cache_policy=NO_CACHE)
def forecast(lookback_hours: float, min_samples: int) -> list[DiskForecast]:
    return forecast_disks(timezone.now(), timedelta(hours=lookback_hours), min_samples)


@task(cache_policy=NO_CACHE)
def alert_on_forecasts(forecasts: list[DiskForecast], horizon_hours: float) -> list[str]:
    alerted = []
    for item in forecasts:
        if item.hours_left is None or item.hours_left > horizon_hours:
            continue
        message = (
            f"{item.mount} on {item.host} is {item.current_percent:g} % used, growing {item.growth_per_hour:g} % an "
            f"hour: it reaches {item.threshold_percent:g} % in about {item.hours_left:g} h"
        )
        severity = Severity.CRITICAL if item.hours_left <= horizon_hours / 4 else Severity.WARNING
        if raise_alert(FORECAST_RULE, item.subject, severity, message, item.hours_left):
            alerted.append(item.subject)
    return alerted


def report_markdown(forecasts: list[DiskForecast], horizon_hours: float) -> str:
    rows = [
        (
            item.host, item.mount, item.samples, item.current_percent, item.growth_per_hour, item.threshold_percent,
            "never (not growing)" if item.hours_left is None else f"{item.hours_left:g}",
        )
        for item in forecasts
    ]  # fmt: skip
    header = ("host", "mount", "samples", "used %", "growth % / h", "threshold %", "hours left")
    intro = f"# Disk forecast\n\nAlerts for disks crossing their threshold within {horizon_hours:g} h."
    return f"{intro}\n\n{markdown_table('Disks', header, rows)}"


@flow(name="predictive_maintenance", on_failure=[alert_on_failure])
def predictive_maintenance(
    lookback_hours: float = 24.0, horizon_hours: float = 72.0, min_samples: int = 10
) -> dict[str, Any]:
    """Fit the last `lookback_hours` of disk samples (disks with at least `min_samples`), and alert for each disk
    forecast to cross its threshold within `horizon_hours`."""
    forecasts = forecast(lookback_hours, min_samples)
    create_markdown_artifact(report_markdown(forecasts, horizon_hours), key=ARTIFACT_KEY, description="Disk forecast")
    alerted = alert_on_forecasts(forecasts, horizon_hours)
    summary = {
        "disks": [{"subject": f.subject, "hours_left": f.hours_left, "percent": f.current_percent} for f in forecasts],
        "alerted": alerted,
    }
    get_run_logger().info("disk forecast: %s", summary)
    return summary
