"""Maintenance flows: retention and compaction."""

from __future__ import annotations

from prefect.deployments.runner import RunnerDeployment

from flows.catalogue import catalogue_deployment
from flows.resource_optimization import resource_optimization

RESOURCE_OPTIMIZATION_DEPLOYMENT = "resource-optimization-nightly"


def deployments() -> list[RunnerDeployment]:
    return [
        catalogue_deployment(
            resource_optimization,
            RESOURCE_OPTIMIZATION_DEPLOYMENT,
            "maintenance",
            "Prune mirrored runs, monitoring samples and notification deliveries past retention in batches, then "
            "ANALYZE (and VACUUM on SQLite); reports rows removed and bytes reclaimed",
            cron="15 3 * * *",
            parameters={"delivery_retention_days": 30, "batch_size": 1000},
        ),
    ]
