"""/healthz, /readyz and /metrics: liveness without the database, readiness naming what is down (Prefect against a
closed port, and the real Prefect test server), and a Prometheus exposition that parses and carries the series,
guarded by a bearer token or an address allow-list."""

from __future__ import annotations

import socket
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from monitoring.components import check_components
from monitoring.evaluation import evaluate_health
from monitoring.models import Alert, ComponentHealth, Threshold
from tests.factories import AlertFactory, FlowRunFactory, SystemSampleFactory

pytestmark = pytest.mark.django_db


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_healthz_answers_without_the_database(django_assert_num_queries):
    with django_assert_num_queries(0):
        response = Client().get("/healthz")
    assert (response.status_code, response.json()) == (200, {"status": "ok"})


def test_readyz_is_503_naming_prefect_when_prefect_is_unreachable(settings):
    settings.PREFECT_API_URL = f"http://127.0.0.1:{_closed_port()}/api"
    settings.PREFECT_CLIENT_MAX_RETRIES = 0
    response = Client().get("/readyz")
    body = response.json()
    assert response.status_code == 503
    assert list(body["reasons"]) == ["prefect_api"]
    assert body["checks"]["database"]["status"] == "ok"


@pytest.mark.prefect
def test_readyz_is_200_against_the_real_prefect_server(prefect_server):
    response = Client().get("/readyz")
    assert response.status_code == 200, response.json()
    assert response.json()["status"] == "ok"


def _scrape(**headers: str) -> dict[str, list]:
    response = Client().get("/metrics", headers=headers)
    assert response.status_code == 200, response.content
    families = text_string_to_metric_families(response.content.decode())
    return {family.name: family.samples for family in families}


def test_metrics_parse_and_carry_the_series(django_assert_max_num_queries, settings):
    settings.PREFECT_API_URL = f"http://127.0.0.1:{_closed_port()}/api"
    settings.PREFECT_CLIENT_MAX_RETRIES = 0
    for _ in range(3):
        FlowRunFactory(state_type="FAILED")
    FlowRunFactory(state_type="COMPLETED")
    SystemSampleFactory(host="web-1", cpu_percent=42.5, disk_percent={"/": 71.0})
    AlertFactory(severity="critical")
    check_components(["database", "prefect_api"])
    with django_assert_max_num_queries(20):
        families = _scrape()
    runs = {(s.labels["state"], s.value) for s in families["controlplane_flow_runs"]}
    assert ("FAILED", 1.0) in runs and len(runs) >= 2
    assert [s.value for s in families["controlplane_host_cpu_percent"]] == [42.5]
    assert families["controlplane_host_disk_percent"][0].labels == {"host": "web-1", "mount": "/"}
    assert families["controlplane_open_alerts"][0].labels["severity"] == "critical"
    components = {s.labels["component"]: s.value for s in families["controlplane_component_status"]}
    assert components == {"database": 0.0, "prefect_api": 2.0}
    assert 0 <= families["controlplane_health_score"][0].value <= 100
    assert "controlplane_run_failure_rate" in families


def test_metrics_refuse_an_address_outside_the_allow_list(settings):
    settings.METRICS_ALLOWED_IPS = ["10.0.0.0/8"]
    assert Client().get("/metrics").status_code == 403


def test_metrics_accept_the_bearer_token_from_anywhere(settings):
    settings.METRICS_ALLOWED_IPS = []
    settings.METRICS_TOKEN = "scrape-me"
    assert "controlplane_health_score" in _scrape(Authorization="Bearer scrape-me")
    assert Client().get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 403


def test_metrics_count_active_runs_of_any_age_and_finished_ones_of_the_window(settings):
    """Active runs are counted across the whole mirror; finished ones only within RUN_HEALTH_WINDOW_SECONDS (the
    whole history's grouped count took over a second at 1M runs)."""
    settings.RUN_HEALTH_WINDOW_SECONDS = 3600
    long_ago = timezone.now() - timedelta(days=2)
    FlowRunFactory(state_type="SCHEDULED", expected_start_time=long_ago)  # late for two days: counted
    FlowRunFactory(state_type="COMPLETED", expected_start_time=long_ago)  # outside the window: not counted
    FlowRunFactory(state_type="FAILED")
    FlowRunFactory(state_type="RUNNING", deleted_in_prefect=True)  # a ghost: never counted
    runs = {sample.labels["state"]: sample.value for sample in _scrape()["controlplane_flow_runs"]}
    assert runs == {"SCHEDULED": 1.0, "FAILED": 1.0}


@pytest.mark.prefect
@pytest.mark.faults
def test_a_stopped_prefect_is_down_fails_readyz_and_raises_an_alert_that_its_restart_clears(prefect_server, settings):
    """The real Prefect server stopped and started again on its port, checked as beat's task checks it."""
    settings.PREFECT_CLIENT_MAX_RETRIES = 0
    Threshold.objects.exclude(metric="component_down").update(enabled=False)
    try:
        prefect_server.stop()
        check_components(["prefect_api"])
        evaluate_health()
        assert ComponentHealth.objects.get(component="prefect_api").status == "down"
        response = Client().get("/readyz")
        assert response.status_code == 503 and "prefect_api" in response.json()["reasons"]
        alert = Alert.objects.get(subject="component:prefect_api", status="firing")
        assert alert.severity == "critical"
    finally:
        if prefect_server.process is None:
            prefect_server.start()
    check_components(["prefect_api"])
    evaluate_health()
    assert ComponentHealth.objects.get(component="prefect_api").status == "ok"
    assert Client().get("/readyz").status_code == 200
    alert.refresh_from_db()
    assert alert.status == "resolved"
