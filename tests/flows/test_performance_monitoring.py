"""`performance_monitoring`: p50 / p95 per deployment against the previous window, a regression alert, the table
artifact. The mirror holds runs of the previous day (factory rows: Prefect cannot run them in the past)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from flows.performance_monitoring import ARTIFACT_KEY, REGRESSION_RULE, performance_monitoring
from monitoring.models import Alert
from tests.factories import DeploymentFactory, FlowRunFactory
from tests.flows.conftest import artifacts_of

pytestmark = pytest.mark.prefect


def _runs(deployment, hours_ago: float, durations: list[float]) -> None:
    for index, seconds in enumerate(durations):
        end = timezone.now() - timedelta(hours=hours_ago, minutes=index)
        FlowRunFactory(
            deployment=deployment, start_time=end - timedelta(seconds=seconds), end_time=end, total_run_time=seconds
        )


def test_a_deployment_whose_p95_grew_past_the_threshold_raises_an_alert(run_flow):
    slower = DeploymentFactory(name="nightly-export")
    steady = DeploymentFactory(name="hourly-sync")
    _runs(slower, hours_ago=30, durations=[10, 11, 12, 10, 11, 12])
    _runs(slower, hours_ago=2, durations=[10, 12, 30, 31, 33, 40])
    _runs(steady, hours_ago=30, durations=[5, 6, 5, 6, 5, 6])
    _runs(steady, hours_ago=2, durations=[5, 6, 6, 5, 6, 5])

    summary, run = run_flow(performance_monitoring, window_hours=24, regression_percent=50, min_runs=5)

    assert run["state_type"] == "COMPLETED", run["state"]
    rows = {row["deployment"]: row for row in summary["deployments"]}
    slower_name, steady_name = str(slower), str(steady)
    assert (rows[slower_name]["p50_s"], rows[slower_name]["p95_s"]) == (30.0, 40.0)
    assert (rows[slower_name]["previous_p50_s"], rows[slower_name]["previous_p95_s"]) == (11.0, 12.0)
    assert rows[steady_name]["p95_change_percent"] == 0.0
    assert summary["regressed"] == [slower_name]
    alert = Alert.objects.get(rule=REGRESSION_RULE, subject=f"deployment:{slower_name}")
    assert alert.severity == "critical" and alert.last_value == pytest.approx(233.33)
    assert not Alert.objects.filter(rule=REGRESSION_RULE, subject=f"deployment:{steady_name}").exists()
    (artifact,) = [a for a in artifacts_of(run["id"]) if a["key"] == ARTIFACT_KEY]
    assert artifact["type"] == "table" and slower_name in artifact["data"]
