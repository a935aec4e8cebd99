"""Notifications: the daily digest."""

from __future__ import annotations

from prefect.deployments.runner import RunnerDeployment

from flows.catalogue import catalogue_deployment
from flows.daily_digest import daily_digest

DAILY_DIGEST_DEPLOYMENT = "daily-digest"


def deployments() -> list[RunnerDeployment]:
    return [
        catalogue_deployment(
            daily_digest,
            DAILY_DIGEST_DEPLOYMENT,
            "notifications",
            "Yesterday's runs, failures, open alerts and health, sent to the notification channels",
            cron="0 7 * * *",
        ),
    ]
