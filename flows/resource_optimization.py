"""`resource_optimization`: prune what is past its retention — mirrored runs (RUN_RETENTION_DAYS), monitoring samples
(MONITORING_SAMPLE_RETENTION_HOURS), finished notification deliveries (`delivery_retention_days`) — in batches, then
`ANALYZE` (and `VACUUM` on SQLite); reports the rows removed and the bytes the database shrank by."""

from __future__ import annotations

from typing import Any

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact

from controlplane.db.maintenance import analyze_and_vacuum, database_size_bytes
from monitoring.retention import prune_deliveries
from monitoring.sampling import prune_samples
from workflows.retention import prune_old_runs

REPORT_KEY = "resource-optimization-report"


@task
def prune_expired_rows(run_retention_days: int | None, delivery_retention_days: int, batch_size: int) -> dict[str, int]:
    return {
        "flow_runs": prune_old_runs(retention_days=run_retention_days, batch_size=batch_size),
        "samples": prune_samples(batch_size=batch_size),
        "deliveries": prune_deliveries(delivery_retention_days, batch_size=batch_size),
    }


@task
def compact() -> list[str]:
    return analyze_and_vacuum()


@flow(name="resource_optimization")
def resource_optimization(
    run_retention_days: int | None = None, delivery_retention_days: int = 30, batch_size: int = 1000
) -> dict[str, Any]:
    """Prune, then compact; `run_retention_days` None means RUN_RETENTION_DAYS."""
    if batch_size < 1 or delivery_retention_days < 0:
        raise ValueError("batch_size must be >= 1 and delivery_retention_days >= 0")
    size_before = database_size_bytes()
    removed = prune_expired_rows(run_retention_days, delivery_retention_days, batch_size)
    statements = compact()
    size_after = database_size_bytes()
    result = {"removed": removed, "statements": statements, "bytes_before": size_before, "bytes_after": size_after,
              "bytes_reclaimed": max(size_before - size_after, 0)}  # fmt: skip
    get_run_logger().info("removed %s; database %d → %d bytes", removed, size_before, size_after)
    create_markdown_artifact(report_markdown(result), key=REPORT_KEY, description="Retention and compaction")
    return result


def report_markdown(result: dict[str, Any]) -> str:
    lines = ["# Resource optimization", "", "| table | rows removed |", "|---|---|"]
    lines += [f"| {name} | {count} |" for name, count in result["removed"].items()]
    lines += ["", f"{', '.join(result['statements'])}: {result['bytes_before']} → {result['bytes_after']} bytes "
              f"({result['bytes_reclaimed']} reclaimed)"]  # fmt: skip
    return "\n".join(lines)
