"""The operator's dashboard (the admin index and its JSON figures, monitoring/dashboard.py)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from controlplane.audit.actor import Actor
from controlplane.audit.chain import record_audit_event
from monitoring.models import ComponentHealth, Resolution, SampleRollup
from tests.factories import AlertFactory, FlowRunFactory, SystemSampleFactory, UserFactory
from tests.graphql_client import client_for
from workflows.models import StateType

DATA_URL = "/admin-dashboard/data"
pytestmark = pytest.mark.django_db


def _figures(client: Client, **params: str) -> dict:
    response = client.get(DATA_URL, params)
    assert response.status_code == 200
    return response.json()


def _ended(state: StateType, ago: timedelta, **fields: object):
    end = timezone.now() - ago
    return FlowRunFactory(
        state_type=state, state_name=state.title(), expected_start_time=end - timedelta(minutes=1), end_time=end,
        **fields,
    )  # fmt: skip


def test_dashboard_counts_finished_runs_per_hour_and_the_success_rate(viewer_client):
    for _ in range(3):
        _ended(StateType.COMPLETED, timedelta(minutes=10))
    _ended(StateType.FAILED, timedelta(hours=2))
    _ended(StateType.COMPLETED, timedelta(minutes=10), deleted_in_prefect=True)  # a ghost: not counted
    _ended(StateType.FAILED, timedelta(hours=30))  # outside the 24 h
    runs = _figures(viewer_client)["runs"]
    assert runs["finished_24h"] == {"COMPLETED": 3, "FAILED": 1, "CRASHED": 0, "CANCELLED": 0}
    assert runs["success_rate_24h"] == 75.0
    assert len(runs["per_hour"]) == 24
    assert runs["per_hour"][-1]["COMPLETED"] + runs["per_hour"][-2]["COMPLETED"] == 3
    assert sum(bucket["FAILED"] for bucket in runs["per_hour"]) == 1


def test_dashboard_shows_active_and_late_runs(viewer_client):
    running = FlowRunFactory(state_type=StateType.RUNNING, state_name="Running", end_time=None)
    FlowRunFactory(state_type=StateType.SCHEDULED, state_name="Late", start_time=None, end_time=None,
                   expected_start_time=timezone.now() - timedelta(minutes=10))  # fmt: skip
    FlowRunFactory(state_type=StateType.SCHEDULED, start_time=None, end_time=None,
                   expected_start_time=timezone.now() + timedelta(minutes=10))  # fmt: skip
    runs = _figures(viewer_client)["runs"]
    assert (runs["active"], runs["late"]) == (1, 1)
    [item] = runs["active_items"]
    assert (item["name"], item["state_type"]) == (running.name, "RUNNING")
    assert item["url"] == f"/admin/workflows/flowrun/{running.pk}/change/"


def test_run_counts_stop_one_above_the_cap(viewer_client, monkeypatch):
    monkeypatch.setattr("monitoring.dashboard.COUNT_CAP", 2)
    for _ in range(4):
        FlowRunFactory(state_type=StateType.SCHEDULED, start_time=None, end_time=None,
                       expected_start_time=timezone.now() - timedelta(hours=1))  # fmt: skip
    runs = _figures(viewer_client)["runs"]
    assert (runs["late"], runs["count_cap"]) == (3, 2)  # shown as "2+"


def test_dashboard_shows_health_components_and_open_alerts(viewer_client):
    now = timezone.now()
    ComponentHealth.objects.create(component="database", status="ok", since=now, checked_at=now)
    ComponentHealth.objects.create(component="broker", status="down", message="refused", since=now, checked_at=now)
    AlertFactory(severity="critical", subject="host:web-1")
    AlertFactory(status="resolved", resolved_at=now)
    figures = _figures(viewer_client)
    components = {c["name"]: c["status"] for c in figures["health"]["components"]}
    assert (components["database"], components["broker"], components["beat"]) == ("ok", "down", "unknown")
    assert figures["health"]["score"] == 20 + 20 - 10  # database ok, one open critical alert
    assert figures["alerts"]["open"] == 1
    assert [a["subject"] for a in figures["alerts"]["items"]] == ["host:web-1"]


def test_host_chart_has_one_point_per_minute_hour_or_ten_minutes_by_range(viewer_client):
    now = timezone.now().replace(second=30, microsecond=0)
    for minute in range(120):
        SystemSampleFactory(taken_at=now - timedelta(minutes=minute), cpu_percent=minute % 100,
                            disk_percent={"/": 10.0, "/data": 70.0 + minute % 3})  # fmt: skip
    one_hour = _figures(viewer_client, range="1h")["host"]
    assert one_hour["name"] == "test-host"
    assert 59 <= len(one_hour["points"]) <= 61
    assert all(70.0 <= point["disk"] <= 72.0 for point in one_hour["points"])
    assert 12 <= len(_figures(viewer_client, range="24h")["host"]["points"]) <= 13
    assert 2 <= len(_figures(viewer_client, range="7d")["host"]["points"]) <= 3


def test_audit_activity_is_shown_only_to_those_who_may_read_the_audit_log(viewer_client, auditor_client):
    record_audit_event(Actor.system(), "config.update", target_type="config", target_id="1")
    assert _figures(viewer_client)["activity"] is None
    events = _figures(auditor_client)["activity"]
    assert [(e["actor"], e["target"]) for e in events if e["action"] == "config.update"] == [("system", "config 1")]


def test_dashboard_queries_stay_bounded_whatever_the_number_of_rows(viewer_client, django_assert_max_num_queries):
    _figures(viewer_client)  # the session and the permission cache warm up
    for minutes in range(60):
        _ended(StateType.COMPLETED if minutes % 4 else StateType.FAILED, timedelta(minutes=minutes * 20))
        FlowRunFactory(state_type=StateType.RUNNING, end_time=None)
        SystemSampleFactory(taken_at=timezone.now() - timedelta(minutes=minutes))
        AlertFactory()
        record_audit_event(Actor.system(), "test.event", target_type="test", target_id=str(minutes))
    auditor = client_for("auditor")
    for client in (viewer_client, auditor):
        with django_assert_max_num_queries(16):  # 12 of the dashboard's, the session, the user, the permissions
            _figures(client, range="24h")


def test_anonymous_requests_are_sent_to_the_login_page():
    response = Client().get(DATA_URL)
    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")


def test_the_admin_index_is_the_dashboard_with_runs_deployments_and_alerts_first(operator_client):
    page = operator_client.get("/admin/").content.decode()
    assert 'id="dashboard"' in page and DATA_URL in page
    app_list = page[page.index('id="dashboard"') :]
    positions = [app_list.index(f'href="/admin/{path}/"') for path in
                 ("workflows/flowrun", "workflows/deployment", "monitoring/alert")]  # fmt: skip
    assert positions == sorted(positions)


def test_accounts_and_beat_internals_close_the_index():
    client = Client()
    client.force_login(UserFactory(role="admin"))
    page = client.get("/admin/").content.decode()
    app_links = ("/admin/workflows/", "/admin/monitoring/", "/admin/auth/", "/admin/django_celery_beat/")
    positions = [page.index(f'href="{link}"') for link in app_links]
    assert positions == sorted(positions)


def test_the_samples_list_opens_with_its_chart_and_alerts_show_badges(viewer_client):
    SystemSampleFactory()
    AlertFactory(severity="critical")
    samples = viewer_client.get("/admin/monitoring/systemsample/").content.decode()
    assert 'id="samples-chart"' in samples and "monitoring/samples.js" in samples
    alerts = viewer_client.get("/admin/monitoring/alert/").content.decode()
    assert '<span class="badge badge-critical">critical</span>' in alerts
    assert '<span class="badge badge-firing">firing</span>' in alerts


def test_the_week_chart_reads_the_hourly_roll_ups_beyond_the_raw_samples_retention(viewer_client):
    """Raw samples are kept 48 h; a week's chart is drawn from the hourly roll-ups (monitoring/rollups.py)."""
    SystemSampleFactory(taken_at=timezone.now())
    hour = timezone.now().replace(minute=0, second=0, microsecond=0)
    for hours_ago in (150, 100, 2):
        SampleRollup.objects.create(
            resolution=Resolution.HOUR, host="test-host", bucket=hour - timedelta(hours=hours_ago), samples=240,
            values={"cpu_percent": [float(hours_ago), 99.0], "memory_percent": [40.0, 41.0],
                    "disk_percent": {"/": [10.0, 10.0], "/data": [70.0, 71.0]}},
        )  # fmt: skip
    points = _figures(viewer_client, range="7d")["host"]["points"]
    assert [(point["cpu"], point["memory"], point["disk"]) for point in points] == [
        (150.0, 40.0, 70.0), (100.0, 40.0, 70.0), (2.0, 40.0, 70.0)
    ]  # fmt: skip
