"""System flows: the host and component health check, backups."""

from __future__ import annotations

import os

from prefect.deployments.runner import RunnerDeployment

from flows.backup_operations import backup_operations
from flows.catalogue import catalogue_deployment
from flows.health_check import health_check
from flows.run_timeouts import run_timeouts
from workflows.configuration import HEALTH_CHECK_DEPLOYMENT, current_config

BACKUP_DEPLOYMENT = "backup-nightly"
RUN_TIMEOUTS_DEPLOYMENT = "run-timeouts"


def health_check_interval() -> int:
    """HEALTH_CHECK_INTERVAL_SECONDS when set (tests), else the configuration's interval (which an admin's change
    also pushes to the served deployment, workflows/configuration.py)."""
    if "HEALTH_CHECK_INTERVAL_SECONDS" in os.environ:
        return int(os.environ["HEALTH_CHECK_INTERVAL_SECONDS"])
    return current_config().health_check_interval_seconds


def deployments() -> list[RunnerDeployment]:
    return [
        catalogue_deployment(
            health_check,
            HEALTH_CHECK_DEPLOYMENT,
            "system",
            "Host snapshot (CPU, memory, disk, load) and reachability of the database, broker and Prefect",
            interval=health_check_interval(),
        ),
        catalogue_deployment(
            backup_operations,
            BACKUP_DEPLOYMENT,
            "system",
            "Back up the control plane's database to BACKUP_DIR with a checksum, verify it by a scratch restore, "
            "prune by retention (7 daily, 4 weekly)",
            cron="30 2 * * *",
            parameters={"keep_daily": 7, "keep_weekly": 4},
        ),
        catalogue_deployment(
            run_timeouts,
            RUN_TIMEOUTS_DEPLOYMENT,
            "system",
            "Cancel runs RUNNING longer than the configuration's default timeout, audited as the system",
            interval=60,
        ),
    ]
