"""resource_optimization deletes exactly the rows past retention (runs, samples, finished deliveries), then compacts
the database, reporting what it removed."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from flows.resource_optimization import REPORT_KEY, resource_optimization
from monitoring.models import Delivery, SystemSample
from tests.factories import AlertFactory, FlowRunFactory, NotificationChannelFactory, SystemSampleFactory
from tests.flows.conftest import artifacts_of
from workflows.models import FlowRun

pytestmark = pytest.mark.prefect


def ago(**delta: float):
    return timezone.now() - timedelta(**delta)


def delivery(status: str, created_at) -> Delivery:
    made = Delivery.objects.create(channel=NotificationChannelFactory(), alert=AlertFactory(), status=status)
    Delivery.objects.filter(pk=made.pk).update(created_at=created_at)  # auto_now_add: set the age afterwards
    return made


def test_exactly_the_expired_rows_are_removed_and_the_database_compacted(run_flow, settings):
    settings.MONITORING_SAMPLE_RETENTION_HOURS = 48
    old_runs = [FlowRunFactory(expected_start_time=ago(days=40), state_type=s) for s in ("COMPLETED", "FAILED")]
    kept_runs = [FlowRunFactory(expected_start_time=ago(days=40), state_type="RUNNING"),
                 FlowRunFactory(expected_start_time=ago(days=5))]  # fmt: skip
    old_samples = SystemSampleFactory.create_batch(3, taken_at=ago(hours=49))
    kept_samples = SystemSampleFactory.create_batch(2, taken_at=ago(hours=47))
    old_deliveries = [delivery("sent", ago(days=31)), delivery("failed", ago(days=31))]
    kept_deliveries = [delivery("pending", ago(days=31)), delivery("sent", ago(days=29))]

    result, run = run_flow(resource_optimization, run_retention_days=30, delivery_retention_days=30, batch_size=2)

    assert run["state_type"] == "COMPLETED", run["state"]
    assert result["removed"] == {"flow_runs": len(old_runs), "samples": len(old_samples),
                                 "deliveries": len(old_deliveries)}  # fmt: skip
    assert set(FlowRun.objects.values_list("pk", flat=True)) == {r.pk for r in kept_runs}
    assert set(SystemSample.objects.values_list("pk", flat=True)) == {s.pk for s in kept_samples}
    assert set(Delivery.objects.values_list("pk", flat=True)) == {d.pk for d in kept_deliveries}
    assert "ANALYZE" in result["statements"]
    assert result["bytes_reclaimed"] == max(result["bytes_before"] - result["bytes_after"], 0)
    assert [a for a in artifacts_of(run["id"]) if a["key"] == REPORT_KEY]
