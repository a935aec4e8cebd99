"""`health_check`: a psutil snapshot of the host the flow runs on (CPU, memory, disk, load) and whether the
database, the broker and Prefect answer (the monitoring room's component checks), published as a markdown
artifact. The run completes whatever it finds: the report, not the run's state, says what is down."""

from __future__ import annotations

import os
import shutil
from typing import Any

import psutil
from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact

from monitoring.components import run_check

REACHABILITY_CHECKS = ("database", "broker", "prefect_api")
RESOURCE_WARNING_PERCENT = 90
REPORT_KEY = "health-check-report"


@task
def take_system_snapshot(disk_path: str) -> dict[str, float]:
    memory = psutil.virtual_memory()
    disk = shutil.disk_usage(disk_path)
    load_1, load_5, load_15 = os.getloadavg()
    return {
        "cpu_percent": psutil.cpu_percent(interval=0.5),
        "cpu_count": float(psutil.cpu_count() or 1),
        "memory_percent": memory.percent,
        "memory_available_bytes": float(memory.available),
        "disk_percent": round(100 * disk.used / disk.total, 2),
        "disk_free_bytes": float(disk.free),
        "load_1": load_1,
        "load_5": load_5,
        "load_15": load_15,
    }


@task
def check_reachability() -> dict[str, dict[str, Any]]:
    """Each component's status (ok / degraded / down), message and latency."""
    results = {}
    for name in REACHABILITY_CHECKS:
        check = run_check(name)
        results[name] = {"status": str(check.status), "message": check.message, "latency_ms": check.latency_ms}
    return results


def overall_status(components: dict[str, dict[str, Any]]) -> str:
    statuses = {component["status"] for component in components.values()}
    for status in ("down", "degraded"):
        if status in statuses:
            return status
    return "ok"


def report_markdown(snapshot: dict[str, float], components: dict[str, dict[str, Any]], status: str) -> str:
    lines = [f"# Health check: {status}", "", "| component | status | latency (ms) | message |", "|---|---|---|---|"]
    for name, component in components.items():
        lines.append(f"| {name} | {component['status']} | {component['latency_ms']} | {component['message']} |")
    lines += ["", "| resource | value |", "|---|---|"]
    lines += [f"| {key} | {value:.2f} |" for key, value in snapshot.items()]
    return "\n".join(lines)


@flow(name="health_check", log_prints=True)
def health_check(disk_path: str = "/") -> dict[str, Any]:
    """Take a snapshot (a warning for any resource above 90 %), check the components, publish the report."""
    snapshot = take_system_snapshot(disk_path)
    components = check_reachability()
    status = overall_status(components)
    logger = get_run_logger()
    for key in ("cpu_percent", "memory_percent", "disk_percent"):
        level = logger.warning if snapshot[key] >= RESOURCE_WARNING_PERCENT else logger.info
        level("%s = %.1f", key, snapshot[key])
    for name, component in components.items():
        level = logger.info if component["status"] == "ok" else logger.warning
        level("%s is %s %s", name, component["status"], component["message"])
    create_markdown_artifact(
        report_markdown(snapshot, components, status), key=REPORT_KEY, description="Host and component health"
    )
    return {"status": status, "host": snapshot, "components": components}
