"""The stream pipeline's services and admin: malformed entries rejected, figures per source, hot sources alerted
once, and the tables readable (never writable) in the admin by every role."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from controlplane.audit.models import AuditEvent
from monitoring.models import Alert, AlertStatus
from pipelines import services
from pipelines.models import StreamRecord
from pipelines.stream import StreamEntry
from tests.graphql_client import client_for

pytestmark = pytest.mark.django_db
STREAM = "test:readings"


def _entry(message_id: str, source: str, value: str, produced_at: str | None = None) -> StreamEntry:
    produced = produced_at or timezone.now().isoformat()
    return StreamEntry(message_id, {"source": source, "value": value, "produced_at": produced})


def test_malformed_entries_are_rejected_and_the_rest_stored():
    entries = [
        _entry("1-0", "sensor-1", "12.5"),
        _entry("2-0", "sensor-1", "not a number"),
        _entry("3-0", "sensor-2", "3", produced_at="2026-01-01T00:00:00"),  # no time zone
        StreamEntry("4-0", {"value": "1"}),
    ]
    batch = services.store_entries(STREAM, entries)
    assert (batch.stored, batch.rejected, batch.message_ids) == (1, ["2-0", "3-0", "4-0"], ["1-0", "2-0", "3-0", "4-0"])
    assert list(StreamRecord.objects.values_list("message_id", flat=True)) == ["1-0"]


def test_window_figures_per_source_and_one_alert_per_hot_source():
    services.store_entries(STREAM, [_entry(f"{i}-0", "boiler", str(v)) for i, v in enumerate(range(81, 101))])
    old = (timezone.now() - timedelta(hours=7)).isoformat()
    services.store_entries(STREAM, [_entry("99-0", "boiler", "500", produced_at=old)])  # outside the window
    end = timezone.now() + timedelta(seconds=1)
    (figures,) = services.window_figures(STREAM, end - timedelta(hours=6), end)
    assert (figures.count, figures.mean, figures.p95, figures.maximum) == (20, 90.5, 99.0, 100.0)
    metrics = services.store_metrics(STREAM, end - timedelta(hours=6), end, [figures])
    assert services.alert_on_hot_sources(STREAM, metrics, p95_threshold=95) == ["boiler"]
    assert services.alert_on_hot_sources(STREAM, metrics, p95_threshold=95) == []  # already open: not repeated


def test_a_hot_source_back_under_the_threshold_has_its_alert_resolved_by_the_system():
    end = timezone.now()
    hot, cooled = (
        services.store_metrics(STREAM, end - timedelta(hours=1), end, [services.SourceFigures("boiler", 10, 1, p95, 1)])
        for p95 in (120.0, 80.0)
    )
    assert services.alert_on_hot_sources(STREAM, hot, p95_threshold=95) == ["boiler"]
    services.alert_on_hot_sources(STREAM, cooled, p95_threshold=95)

    alert = Alert.objects.get(rule=services.STREAM_VALUE_RULE)
    assert (alert.status, alert.last_value) == (AlertStatus.RESOLVED, 80.0)
    resolved = AuditEvent.objects.get(action="alert.resolve", target_id=str(alert.pk))
    assert resolved.actor_label == "system"
    assert services.alert_on_hot_sources(STREAM, hot, p95_threshold=95) == ["boiler"]  # hot again: a new alert


@pytest.mark.parametrize("role", ["viewer", "operator", "admin", "auditor"])
def test_every_role_reads_the_stream_tables_in_the_admin_and_nobody_adds(role):
    services.store_entries(STREAM, [_entry("1-0", "sensor-7", "1")])
    client = client_for(role)
    response = client.get("/admin/pipelines/streamrecord/")
    assert response.status_code == 200 and "sensor-7" in response.content.decode()
    assert client.get("/admin/pipelines/streammetric/").status_code == 200
    assert client.get("/admin/pipelines/streamrecord/add/").status_code == 403
