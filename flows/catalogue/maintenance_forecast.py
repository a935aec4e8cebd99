"""Maintenance: the disk forecast (the other maintenance flows are in maintenance.py)."""

from __future__ import annotations

from prefect.deployments.runner import RunnerDeployment

from flows.catalogue import catalogue_deployment
from flows.predictive_maintenance import predictive_maintenance

PREDICTIVE_MAINTENANCE_DEPLOYMENT = "predictive-maintenance"


def deployments() -> list[RunnerDeployment]:
    return [
        catalogue_deployment(
            predictive_maintenance,
            PREDICTIVE_MAINTENANCE_DEPLOYMENT,
            "maintenance",
            "Disk usage trend from the monitoring samples; alerts for disks crossing their threshold within 72 h",
            cron="0 */3 * * *",
        ),
    ]
