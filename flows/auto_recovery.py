"""`auto_recovery`: re-run CRASHED runs up to the configured retry attempts each (workflows/recovery.py), when the
orchestration configuration's auto-recovery switch is on; off, the run completes having done nothing, and says so."""

from __future__ import annotations

from dataclasses import asdict
from datetime import timedelta
from typing import Any

from prefect import flow, get_run_logger

from workflows.recovery import recover_crashed_runs


@flow(name="auto_recovery")
def auto_recovery(window_hours: int = 24) -> dict[str, Any]:
    """Retry crashed deployment runs expected to start within the last `window_hours`."""
    result = recover_crashed_runs(timedelta(hours=window_hours))
    get_run_logger().info(result.message)
    return asdict(result)
