"""Analysis flows: failures (recurring causes, flaky deployments, failure rates) and run durations."""

from __future__ import annotations

from prefect.deployments.runner import RunnerDeployment

from flows.catalogue import catalogue_deployment
from flows.failure_analysis import failure_analysis
from flows.performance_monitoring import performance_monitoring

FAILURE_ANALYSIS_DEPLOYMENT = "failure-analysis"
PERFORMANCE_MONITORING_DEPLOYMENT = "performance-monitoring"


def deployments() -> list[RunnerDeployment]:
    return [
        catalogue_deployment(
            failure_analysis,
            FAILURE_ANALYSIS_DEPLOYMENT,
            "analysis",
            "Failed runs of the last 24 h by deployment and error; recurring causes, flaky deployments, rate alerts",
            cron="15 * * * *",
        ),
        catalogue_deployment(
            performance_monitoring,
            PERFORMANCE_MONITORING_DEPLOYMENT,
            "analysis",
            "p50 / p95 run duration per deployment over 24 h against the 24 h before; alerts on regressions",
            cron="30 * * * *",
        ),
    ]
