"""Sampling, run health and component health: what each measures, the configuration switch, pruning in batches,
the health score's weighting."""

from __future__ import annotations

import socket
from datetime import timedelta

import pytest
from django.core.cache import cache
from django.utils import timezone

from monitoring import components, sampling
from monitoring.models import ComponentHealth, SystemSample
from monitoring.run_health import run_health
from tests.factories import AlertFactory, DeploymentFactory, FlowRunFactory, SystemSampleFactory
from workflows.listener import HEARTBEAT_CACHE_KEY
from workflows.models import OrchestrationConfig, SyncStatus

pytestmark = pytest.mark.django_db


def test_a_sample_reads_the_host_and_the_monitored_disk(settings, tmp_path):
    settings.MONITORED_DISKS = [str(tmp_path)]
    first = sampling.take_sample()
    second = sampling.take_sample()
    assert first is not None and second is not None
    assert 0 <= second.cpu_percent <= 100 and 0 < second.memory_percent <= 100
    assert list(second.disk_percent) == [sampling.mount_of(str(tmp_path))]
    assert second.process_rss_bytes > 0
    assert second.net_sent_bytes_per_second >= 0


def test_sampling_stops_when_monitoring_is_switched_off():
    OrchestrationConfig.objects.create(pk=1, monitoring_enabled=False)
    assert sampling.take_sample() is None
    assert not SystemSample.objects.exists()


def test_old_samples_are_pruned_in_batches(settings):
    settings.MONITORING_SAMPLE_RETENTION_HOURS = 48
    old = timezone.now() - timedelta(hours=49)
    for _ in range(5):
        SystemSampleFactory(taken_at=old)
    kept = SystemSampleFactory()
    assert sampling.prune_samples(batch_size=2) == 5
    assert list(SystemSample.objects.all()) == [kept]


def test_run_health_counts_failures_retries_late_and_slow_runs_per_deployment(settings):
    settings.LATE_RUN_GRACE_SECONDS = 60
    now = timezone.now()
    etl, other = DeploymentFactory(name="etl"), DeploymentFactory(name="other")
    for _ in range(8):
        FlowRunFactory(deployment=etl, state_type="COMPLETED", total_run_time=10, expected_start_time=now, end_time=now)
    FlowRunFactory(deployment=etl, state_type="COMPLETED", total_run_time=100, expected_start_time=now, end_time=now)
    FlowRunFactory(deployment=etl, state_type="FAILED", run_count=3, expected_start_time=now)
    FlowRunFactory(deployment=other, state_type="SCHEDULED", expected_start_time=now - timedelta(minutes=10))
    FlowRunFactory(deployment=other, state_type="CRASHED", expected_start_time=now - timedelta(days=2))  # outside

    overall, per_deployment = run_health(timedelta(hours=1), now=now)
    by_name = {health.deployment_name.split("/")[1]: health for health in per_deployment}
    assert (overall.finished, overall.failed, overall.late) == (10, 1, 1)
    assert (overall.failure_rate, overall.retry_rate, overall.success_rate) == (10.0, 10.0, 90.0)
    assert (by_name["etl"].slow, by_name["etl"].median_duration_seconds) == (1, 10)
    assert (by_name["other"].late, by_name["other"].failure_rate) == (1, None)


def test_run_health_takes_a_fixed_number_of_queries(django_assert_max_num_queries):
    for _ in range(5):
        FlowRunFactory(deployment=DeploymentFactory(), state_type="FAILED", expected_start_time=timezone.now())
    with django_assert_max_num_queries(4):
        run_health()


def test_components_report_down_prefect_and_a_stale_listener(settings):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    settings.PREFECT_API_URL = f"http://127.0.0.1:{port}/api"
    settings.PREFECT_CLIENT_MAX_RETRIES = 0
    cache.set(HEARTBEAT_CACHE_KEY, (timezone.now() - timedelta(minutes=10)).timestamp())
    SyncStatus.objects.create(stream="flow_runs", last_success_at=timezone.now())
    rows = {row.component: row for row in components.check_components(["database", "prefect_api", "listener", "sync"])}
    assert rows["database"].status == "ok" and rows["database"].latency_ms is not None
    assert rows["prefect_api"].status == "down" and rows["prefect_api"].message
    assert rows["listener"].status == "down"
    assert rows["sync"].status == "ok"


def test_a_component_keeps_its_since_while_its_status_holds():
    first = components.check_components(["database"])[0].since
    second = components.check_components(["database"])[0]
    assert second.since == first and second.checked_at >= first


def test_the_health_score_weighs_components_and_open_alerts():
    now = timezone.now()
    for name in components.COMPONENT_WEIGHTS:
        ComponentHealth.objects.create(component=name, status="ok", since=now, checked_at=now)
    assert components.health_score() == 100
    ComponentHealth.objects.filter(component="prefect_api").update(status="down")
    ComponentHealth.objects.filter(component="workers").update(status="degraded")
    AlertFactory(severity="critical")
    assert components.health_score() == 100 - 15 - 5 - 10


def test_the_listener_heartbeat_written_by_workflows_is_what_monitoring_reads():
    from workflows.listener import _heartbeat

    cache.delete(HEARTBEAT_CACHE_KEY)
    assert components.check_listener().status == "down"
    last = _heartbeat(0.0)
    assert _heartbeat(last) == last  # throttled: no second write within HEARTBEAT_SECONDS
    assert components.check_listener().status == "ok"
