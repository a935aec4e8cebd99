"""The stream pipeline's pair of scheduled flows (flows/stream_pipeline.py)."""

from __future__ import annotations

from prefect.deployments.runner import RunnerDeployment

from flows.catalogue import catalogue_deployment
from flows.stream_pipeline import stream_full_analysis, stream_incremental

STREAM_INCREMENTAL_DEPLOYMENT = "stream-incremental"
STREAM_FULL_ANALYSIS_DEPLOYMENT = "stream-full-analysis"


def deployments() -> list[RunnerDeployment]:
    return [
        catalogue_deployment(
            stream_incremental,
            STREAM_INCREMENTAL_DEPLOYMENT,
            "pipelines",
            "Consume new entries of the Redis stream (consumer group) into the StreamRecord table; ack once stored",
            interval=300,
        ),
        catalogue_deployment(
            stream_full_analysis,
            STREAM_FULL_ANALYSIS_DEPLOYMENT,
            "pipelines",
            "Refresh from the stream, then analyse, store metrics and evaluate the last 6 hours, in that order",
            cron="0 */6 * * *",
        ),
    ]
