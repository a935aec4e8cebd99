"""Maintenance flows: retention and compaction, the security audit."""

from __future__ import annotations

from prefect.deployments.runner import RunnerDeployment

from flows.catalogue import catalogue_deployment
from flows.resource_optimization import resource_optimization
from flows.security_audit import security_audit

RESOURCE_OPTIMIZATION_DEPLOYMENT = "resource-optimization-nightly"
SECURITY_AUDIT_DEPLOYMENT = "security-audit-daily"


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
        catalogue_deployment(
            security_audit,
            SECURITY_AUDIT_DEPLOYMENT,
            "maintenance",
            "Django deploy checks, installed packages vs requirements/constraints.txt, DEBUG / secret key / allowed "
            "hosts / Prefect auth string; report artifact; alerts on critical findings",
            cron="45 3 * * *",
        ),
    ]
