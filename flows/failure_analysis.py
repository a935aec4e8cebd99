"""`failure_analysis`: over a window, failed and crashed runs grouped by deployment and error (the first
traceback's exception line from the run's logs, else its state message); recurring causes, flaky deployments (a
failure, then a success with the same parameters) and failure rates, as a markdown artifact; an alert for each
deployment whose failure rate is above the threshold."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.utils import timezone
from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE

from flows.alerting import alert_on_failure, raise_alert
from flows.reports import markdown_table
from monitoring import failure_analysis as analysis
from monitoring.models import Severity

FAILURE_RATE_RULE = "failure_rate_analysis"
ARTIFACT_KEY = "failure-analysis"


@task(cache_policy=NO_CACHE)
def group_failures(start: Any, end: Any, max_runs: int) -> list[analysis.FailureGroup]:
    return analysis.group_failures(analysis.failed_runs(start, end, max_runs))


@task(cache_policy=NO_CACHE)
def find_flaky_deployments(start: Any, end: Any, deployments: set[str]) -> list[analysis.FlakyDeployment]:
    return analysis.flaky_deployments(start, end, deployments)


@task(cache_policy=NO_CACHE)
def measure_failure_rates(start: Any, end: Any) -> list[analysis.DeploymentRate]:
    return analysis.failure_rates(start, end)


@task(cache_policy=NO_CACHE)
def alert_on_failure_rates(
    rates: list[analysis.DeploymentRate], threshold: float, min_runs: int, groups: list[analysis.FailureGroup]
) -> list[str]:
    alerted = []
    for rate in rates:
        if rate.finished < min_runs or rate.failure_rate <= threshold:
            continue
        top = next((g.example for g in groups if g.deployment == rate.deployment), "")
        message = (
            f"{rate.deployment}: {rate.failed} of {rate.finished} runs failed ({rate.failure_rate:g} % > "
            f"{threshold:g} %); most frequent error: {top}"
        )
        severity = Severity.CRITICAL if rate.failure_rate >= 2 * threshold else Severity.WARNING
        if raise_alert(FAILURE_RATE_RULE, f"deployment:{rate.deployment}", severity, message, rate.failure_rate):
            alerted.append(rate.deployment)
    return alerted


def report_markdown(
    window: str,
    groups: list[analysis.FailureGroup],
    recurring: list[analysis.FailureGroup],
    flaky: list[analysis.FlakyDeployment],
    rates: list[analysis.DeploymentRate],
) -> str:
    intro = [f"# Failure analysis, {window}", "", f"{sum(g.count for g in groups)} failed or crashed runs."]
    by_error = [(g.deployment, f"`{_cell(g.example)}`", g.count) for g in groups]
    sections = [
        markdown_table("Recurring causes", ("deployment", "error", "runs"), by_error[: len(recurring)]),
        markdown_table(
            "Flaky deployments",
            ("deployment", "parameters", "failed", "then completed"),
            [(f.deployment, f"`{_cell(f.parameters)}`", f.failed_run, f.recovered_run) for f in flaky],
        ),
        markdown_table(
            "Failure rate by deployment",
            ("deployment", "finished", "failed", "rate %"),
            [(r.deployment, r.finished, r.failed, f"{r.failure_rate:g}") for r in rates if r.failed],
        ),
        markdown_table("Every error", ("deployment", "error", "runs"), by_error),
    ]
    return "\n\n".join(["\n".join(intro), *sections])


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("`", "'").replace("\n", " ")[:200]


@flow(name="failure_analysis", on_failure=[alert_on_failure])
def failure_analysis(
    window_hours: float = 24.0,
    failure_rate_threshold: float = 20.0,
    min_runs: int = 3,
    recurring_min_count: int = 2,
    max_runs: int = 500,
) -> dict[str, Any]:
    """Analyse the runs that ended in the last `window_hours` (at most `max_runs` failures, newest first); alert
    when a deployment with at least `min_runs` finished runs fails more than `failure_rate_threshold` percent."""
    end = timezone.now()
    start = end - timedelta(hours=window_hours)
    groups = group_failures(start, end, max_runs)
    recurring = [group for group in groups if group.count >= recurring_min_count]
    flaky = find_flaky_deployments(start, end, {group.deployment for group in groups})
    rates = measure_failure_rates(start, end)
    window = f"{start:%Y-%m-%d %H:%M} to {end:%Y-%m-%d %H:%M} UTC"
    create_markdown_artifact(
        report_markdown(window, groups, recurring, flaky, rates),
        key=ARTIFACT_KEY,
        description=f"Failed runs by deployment and error, {window}",
    )
    alerted = alert_on_failure_rates(rates, failure_rate_threshold, min_runs, groups)
    summary = {
        "failed_runs": sum(group.count for group in groups),
        "recurring": [{"deployment": g.deployment, "error": g.example, "runs": g.count} for g in recurring],
        "flaky": [{"deployment": f.deployment, "parameters": f.parameters} for f in flaky],
        "alerted": alerted,
    }
    get_run_logger().info("failure analysis: %s", summary)
    return summary
