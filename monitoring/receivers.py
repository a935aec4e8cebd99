"""Monitoring's reactions to the mirror's signals (connected in `MonitoringConfig.ready`)."""

from __future__ import annotations

from typing import Any

from monitoring import sampling, services

FAILURE_STATE_TYPES = {"FAILED", "CRASHED"}


def alert_on_mirrored_failures(sender: Any, runs: list[dict[str, Any]], **kwargs: Any) -> None:
    """A FAILED or CRASHED run the listener just mirrored is alerted on now, not at the next beat scan (the scan
    stays, for runs the sync mirrored; one alert per run either way)."""
    if any(run.get("state_type") in FAILURE_STATE_TYPES for run in runs) and sampling.monitoring_enabled():
        services.alert_on_failed_runs()
