"""Recovery flows: the restore drill and the automatic re-run of crashed runs."""

from __future__ import annotations

from prefect.deployments.runner import RunnerDeployment

from flows.catalogue import catalogue_deployment
from flows.data_recovery import LATEST, data_recovery

RESTORE_DRILL_DEPLOYMENT = "restore-drill-weekly"


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
    ]
