"""Serve the flows of this package as deployments with schedules: `python -m flows.serve`.

The process polls Prefect for scheduled runs of these deployments and executes them (docs/architecture.md, "Prefect
facts": a deployment run needs a process that executes it). Intervals come from the environment so tests can
shorten them.
"""

from __future__ import annotations

import os

from prefect import serve
from prefect.deployments.runner import RunnerDeployment

from flows.etl_pipeline import etl_pipeline
from flows.health_check import health_check

HEALTH_CHECK_DEPLOYMENT = "health-check"
ETL_DEPLOYMENT = "etl-hourly"


def build_deployments() -> list[RunnerDeployment]:
    health_interval = int(os.environ.get("HEALTH_CHECK_INTERVAL_SECONDS", "60"))
    return [
        health_check.to_deployment(
            name=HEALTH_CHECK_DEPLOYMENT,
            interval=health_interval,
            tags=["monitoring"],
            description="psutil snapshot of the worker host",
        ),
        etl_pipeline.to_deployment(
            name=ETL_DEPLOYMENT,
            cron=os.environ.get("ETL_CRON", "0 * * * *"),
            parameters={"rows": 1000, "batch_size": 100},
            tags=["example"],
            description="Example pipeline: extract with retries, transform in batches, load a summary",
        ),
    ]


def main() -> None:
    serve(*build_deployments(), limit=int(os.environ.get("SERVE_CONCURRENCY_LIMIT", "5")))


if __name__ == "__main__":
    main()
