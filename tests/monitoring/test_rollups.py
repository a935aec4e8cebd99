"""Per-minute and per-hour roll-ups of the host samples: exact means and peaks, written once, read at the resolution
a range needs, pruned by their own retention."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from monitoring import rollups
from monitoring.models import Resolution, SampleRollup, SystemSample
from tests.factories import SystemSampleFactory
from tests.graphql_client import client_for, graphql_data

pytestmark = pytest.mark.django_db

START = datetime(2026, 11, 2, 10, 0, tzinfo=UTC)


def seed(minutes: int, host: str = "web-1") -> list[SystemSample]:
    """Four samples a minute (every 15 s) from START; CPU climbs 1 point per sample, disk stays at its mount's
    minute number."""
    samples = []
    for n in range(minutes * 4):
        at = START + timedelta(seconds=15 * n)
        values = {"cpu_percent": float(n), "memory_percent": 40.0, "disk_percent": {"/": float(n // 4)}}
        samples.append(SystemSample(host=host, taken_at=at, **values))
    return SystemSample.objects.bulk_create(samples)


def test_minutes_and_hours_hold_the_exact_mean_and_peak_of_their_samples():
    seed(150)  # 2 h 30 min
    written = rollups.roll_up("web-1", START + timedelta(minutes=150, seconds=5))
    minutes = SampleRollup.objects.filter(resolution=Resolution.MINUTE).order_by("bucket")
    hours = SampleRollup.objects.filter(resolution=Resolution.HOUR).order_by("bucket")
    assert (minutes.count(), hours.count(), written) == (150, 2, 152)

    first = minutes[0]
    assert (first.bucket, first.samples) == (START, 4)
    assert first.values["cpu_percent"] == [1.5, 3.0]  # samples 0, 1, 2, 3
    assert first.values["disk_percent"] == {"/": [0.0, 0.0]}
    second_hour = hours[1]
    assert (second_hour.bucket, second_hour.samples) == (START + timedelta(hours=1), 240)
    assert second_hour.values["cpu_percent"] == [359.5, 479.0]  # samples 240 … 479
    assert second_hour.values["disk_percent"] == {"/": [89.5, 119.0]}


def test_a_roll_writes_only_buckets_that_are_complete_and_not_yet_stored():
    seed(3)
    assert rollups.roll_up("web-1", START + timedelta(minutes=2, seconds=30)) == 2  # the third minute is not over
    assert rollups.roll_up("web-1", START + timedelta(minutes=2, seconds=45)) == 0
    assert rollups.roll_up("web-1", START + timedelta(minutes=3, seconds=1)) == 1
    assert SampleRollup.objects.filter(resolution=Resolution.MINUTE).count() == 3
    assert not SampleRollup.objects.filter(resolution=Resolution.HOUR).exists()


def test_each_host_rolls_its_own_samples():
    seed(2, host="web-1")
    seed(2, host="worker-1")
    rollups.roll_up("web-1", START + timedelta(minutes=2))
    assert set(SampleRollup.objects.values_list("host", flat=True)) == {"web-1"}


def test_a_range_is_read_at_the_resolution_that_fits_it(settings):
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    for hours_ago in range(30):
        SystemSampleFactory(host="web-1", taken_at=now - timedelta(hours=hours_ago, seconds=30), cpu_percent=10.0)
    SampleRollup.objects.create(resolution=Resolution.MINUTE, host="web-1", bucket=now - timedelta(hours=2),
                                samples=4, values={"cpu_percent": [20.0, 35.0]})  # fmt: skip
    SampleRollup.objects.create(resolution=Resolution.HOUR, host="web-1", bucket=now - timedelta(days=3),
                                samples=240, values={"cpu_percent": [30.0, 90.0]})  # fmt: skip

    used, series = rollups.metric_series("cpu_percent", now - timedelta(hours=2, minutes=30), None)
    assert used == rollups.RAW and [p[1] for p in series["web-1"]] == [10.0, 10.0, 10.0]
    used, series = rollups.metric_series("cpu_percent", now - timedelta(hours=12), None)
    assert used == Resolution.MINUTE and [p[1:] for p in series["web-1"]] == [(20.0, 35.0)]
    used, series = rollups.metric_series("cpu_percent", now - timedelta(days=7), None)
    assert used == Resolution.HOUR and [p[1:] for p in series["web-1"]] == [(30.0, 90.0)]


def test_a_week_over_graphql_reads_hourly_means_and_peaks():
    now = datetime.now(UTC)
    for day in range(7):
        SampleRollup.objects.create(resolution=Resolution.HOUR, host="web-1", bucket=now - timedelta(days=day, hours=1),
                                    samples=240, values={"cpu_percent": [float(day), 50.0 + day]})  # fmt: skip
    query = "{ metrics(metric: CPU_PERCENT, range: 604800) { host resolution points { value peak } } }"
    [series] = graphql_data(client_for("viewer"), query)["metrics"]
    assert series["resolution"] == "HOUR"
    assert series["points"] == [{"value": float(day), "peak": 50.0 + day} for day in reversed(range(7))]


def test_roll_ups_past_their_retention_are_pruned_and_no_others(settings):
    settings.MONITORING_MINUTE_RETENTION_DAYS, settings.MONITORING_HOUR_RETENTION_DAYS = 14, 365
    now = datetime(2026, 11, 29, tzinfo=UTC)
    ages = {Resolution.MINUTE: [13, 15, 20], Resolution.HOUR: [100, 364, 366, 400]}
    for resolution, days in ages.items():
        for age in days:
            SampleRollup.objects.create(resolution=resolution, host="web-1", bucket=now - timedelta(days=age),
                                        samples=1, values={})  # fmt: skip
    assert rollups.prune_rollups(now, batch_size=1) == 4
    kept = sorted((r, (now - b).days) for r, b in SampleRollup.objects.values_list("resolution", "bucket"))
    assert kept == [("hour", 100), ("hour", 364), ("minute", 13)]
