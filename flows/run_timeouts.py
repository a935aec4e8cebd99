"""`run_timeouts`: cancel runs that have been RUNNING longer than the configuration's default timeout
(workflows/timeouts.py; Prefect itself has no per-run timeout for a deployment run)."""

from __future__ import annotations

from prefect import flow, get_run_logger

from workflows.timeouts import cancel_overdue_runs


@flow(name="run_timeouts")
def run_timeouts() -> dict[str, list[str]]:
    result = cancel_overdue_runs()
    get_run_logger().info("cancelled %d overdue runs", len(result["cancelled"]))
    return result
