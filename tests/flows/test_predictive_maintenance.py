"""`predictive_maintenance`: a disk filling at a steady rate is forecast to cross its threshold and alerts within
the horizon; a steady disk does not. The samples are the monitoring table's rows of the last hours."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from flows.predictive_maintenance import ARTIFACT_KEY, FORECAST_RULE, predictive_maintenance
from monitoring.models import Alert
from tests.factories import SystemSampleFactory, ThresholdFactory
from tests.flows.conftest import artifacts_of

pytestmark = pytest.mark.prefect


def test_a_filling_disk_is_forecast_to_cross_its_threshold_and_alerts(run_flow):
    ThresholdFactory(name="data disk", metric="disk_percent", scope="disk", scope_value="/data", critical_level=90)
    now = timezone.now()
    for hours_ago in range(12, 0, -1):  # /data grows 2 % an hour to 78 % now; / stays at 40 %
        disks = {"/": 40.0, "/data": 78.0 - 2 * hours_ago}
        SystemSampleFactory(host="db-1", taken_at=now - timedelta(hours=hours_ago), disk_percent=disks)

    summary, run = run_flow(predictive_maintenance, lookback_hours=24, horizon_hours=24, min_samples=10)

    assert run["state_type"] == "COMPLETED", run["state"]
    disks = {disk["subject"]: disk for disk in summary["disks"]}
    assert disks["disk:db-1:/data"]["hours_left"] == pytest.approx(6.0, abs=0.2)  # 78 % → 90 % at 2 % an hour
    assert disks["disk:db-1:/"]["hours_left"] is None
    assert summary["alerted"] == ["disk:db-1:/data"]
    alert = Alert.objects.get(rule=FORECAST_RULE, subject="disk:db-1:/data")
    assert "reaches 90 %" in alert.message
    (artifact,) = [a for a in artifacts_of(run["id"]) if a["key"] == ARTIFACT_KEY]
    assert "never (not growing)" in artifact["data"]
