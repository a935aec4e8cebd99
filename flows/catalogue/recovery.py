"""Recovery flows: the restore drill and the automatic re-run of crashed runs."""

from __future__ import annotations

from prefect.deployments.runner import RunnerDeployment

from flows.auto_recovery import auto_recovery
from flows.catalogue import catalogue_deployment
from flows.data_recovery import LATEST, data_recovery

RESTORE_DRILL_DEPLOYMENT = "restore-drill-weekly"
AUTO_RECOVERY_DEPLOYMENT = "auto-recovery"


def deployments() -> list[RunnerDeployment]:
    return [
        catalogue_deployment(
            data_recovery,
            RESTORE_DRILL_DEPLOYMENT,
            "recovery",
            "Restore a backup (default: the newest) into the scratch database and report how it differs from live; "
            "over live only with target=live and confirm=True on a stopped stack",
            cron="0 4 * * 0",
            parameters={"backup_name": LATEST, "target": "scratch", "confirm": False},
        ),
        catalogue_deployment(
            auto_recovery,
            AUTO_RECOVERY_DEPLOYMENT,
            "recovery",
            "When auto-recovery is on: re-run CRASHED runs (not FAILED) up to the configured retry attempts each, "
            "audited as the system",
            interval=300,
            parameters={"window_hours": 24},
        ),
    ]
