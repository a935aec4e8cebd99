"""System flows: the host and component health check, backups."""

from __future__ import annotations

import os

from prefect.deployments.runner import RunnerDeployment

from flows.catalogue import catalogue_deployment
from flows.health_check import health_check

HEALTH_CHECK_DEPLOYMENT = "health-check"


def health_check_interval() -> int:
    """HEALTH_CHECK_INTERVAL_SECONDS when set (tests), else the configuration's interval (which an admin's change
    also pushes to the served deployment, workflows/configuration.py)."""
    if "HEALTH_CHECK_INTERVAL_SECONDS" in os.environ:
        return int(os.environ["HEALTH_CHECK_INTERVAL_SECONDS"])
    from workflows.configuration import current_config

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
    ]
