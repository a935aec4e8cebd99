"""`health_check`: a psutil snapshot of the host the flow runs on (CPU, memory, disk, load)."""

from __future__ import annotations

import os
import shutil

import psutil
from prefect import flow, get_run_logger, task


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


@flow(name="health_check", log_prints=True)
def health_check(disk_path: str = "/") -> dict[str, float]:
    """Take a snapshot and log a warning for any resource above 90 %."""
    snapshot = take_system_snapshot(disk_path)
    logger = get_run_logger()
    for key in ("cpu_percent", "memory_percent", "disk_percent"):
        level = logger.warning if snapshot[key] >= 90 else logger.info
        level("%s = %.1f", key, snapshot[key])
    return snapshot
