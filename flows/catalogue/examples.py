"""The parameterised example pipeline."""

from __future__ import annotations

import os

from prefect.deployments.runner import RunnerDeployment

from flows.catalogue import catalogue_deployment
from flows.etl_pipeline import etl_pipeline

ETL_DEPLOYMENT = "etl-hourly"


def deployments() -> list[RunnerDeployment]:
    return [
        catalogue_deployment(
            etl_pipeline,
            ETL_DEPLOYMENT,
            "pipelines",
            "Example pipeline: extract with retries, transform in batches, load a summary",
            cron=os.environ.get("ETL_CRON", "0 * * * *"),
            parameters={"rows": 1000, "batch_size": 100},
            extra_tags=("example",),
        ),
    ]
