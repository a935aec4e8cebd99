"""Roll-ups of the host samples per minute and per hour, and the metric series a chart asks for at the resolution that
fits its range.

After each sample the sampling host rolls up its own complete buckets since its last stored one (minutes from raw
samples, hours from minutes): idempotent, a few rows per tick. Raw samples live `MONITORING_SAMPLE_RETENTION_HOURS`
(48 h), minutes `MONITORING_MINUTE_RETENTION_DAYS` (14 d), hours `MONITORING_HOUR_RETENTION_DAYS` (1 y); all are pruned
in batches by `monitoring.prune_samples`.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from django.conf import settings
from django.utils import timezone

from monitoring.metrics import SAMPLE_GAUGES
from monitoring.models import Resolution, SampleRollup, SystemSample

STEP = {Resolution.MINUTE: timedelta(minutes=1), Resolution.HOUR: timedelta(hours=1)}
RAW = "raw"
AUTO = "auto"
# The finest resolution whose points over the range stay readable (and within the series' point cap).
RAW_UP_TO = timedelta(hours=3)
MINUTES_UP_TO = timedelta(days=1)
PRUNE_BATCH = 5000

# A summary of some samples: (count, {gauge: (mean, peak)}, {mount: (mean, peak)}).
Summary = tuple[int, dict[str, tuple[float, float]], dict[str, tuple[float, float]]]


def floor(at: datetime, step: timedelta) -> datetime:
    seconds = int(step.total_seconds())
    epoch = int(at.timestamp())
    return datetime.fromtimestamp(epoch - epoch % seconds, tz=UTC)


def roll_up(host: str, now: datetime | None = None) -> int:
    """Store the host's complete minute and hour buckets not stored yet; returns how many rows were written."""
    now = now or timezone.now()
    return _roll(host, Resolution.MINUTE, now) + _roll(host, Resolution.HOUR, now)


def _roll(host: str, resolution: Resolution, now: datetime) -> int:
    step = STEP[resolution]
    end = floor(now, step)  # buckets that ended before now: complete
    last = (
        SampleRollup.objects.filter(resolution=resolution, host=host)
        .order_by("-bucket")
        .values_list("bucket", flat=True)
    ).first()
    start = last + step if last else end - _source_retention(resolution)
    if start >= end:
        return 0
    buckets: dict[datetime, list[Summary]] = defaultdict(list)
    for at, summary in _source(resolution, host, start, end):
        buckets[floor(at, step)].append(summary)
    rows = [_row(resolution, host, bucket, _merge(summaries)) for bucket, summaries in sorted(buckets.items())]
    SampleRollup.objects.bulk_create(rows, ignore_conflicts=True)  # a concurrent roll of the same bucket: one row
    return len(rows)


def _source_retention(resolution: Resolution) -> timedelta:
    if resolution == Resolution.MINUTE:
        return timedelta(hours=settings.MONITORING_SAMPLE_RETENTION_HOURS)
    return timedelta(days=settings.MONITORING_MINUTE_RETENTION_DAYS)


def _source(resolution: Resolution, host: str, start: datetime, end: datetime) -> Iterator[tuple[datetime, Summary]]:
    """Minutes summarise raw samples; hours summarise minutes."""
    if resolution == Resolution.MINUTE:
        samples = SystemSample.objects.filter(host=host, taken_at__gte=start, taken_at__lt=end).order_by("taken_at")
        for sample in samples.iterator(chunk_size=2000):
            yield sample.taken_at, _summary_of_sample(sample)
        return
    minutes = SampleRollup.objects.filter(resolution=Resolution.MINUTE, host=host, bucket__gte=start, bucket__lt=end)
    for rollup in minutes.order_by("bucket").iterator(chunk_size=2000):
        yield rollup.bucket, _summary_of_rollup(rollup)


def _summary_of_sample(sample: SystemSample) -> Summary:
    gauges = {name: (float(getattr(sample, name)),) * 2 for name in SAMPLE_GAUGES}
    disks = {mount: (float(percent),) * 2 for mount, percent in (sample.disk_percent or {}).items()}
    return 1, gauges, disks  # type: ignore[return-value]


def _summary_of_rollup(rollup: SampleRollup) -> Summary:
    values = dict(rollup.values)
    disks = {mount: (pair[0], pair[1]) for mount, pair in values.pop("disk_percent", {}).items()}
    return rollup.samples, {name: (pair[0], pair[1]) for name, pair in values.items()}, disks


def _merge(summaries: list[Summary]) -> Summary:
    """Means weighted by the samples each summarises; peaks the greatest."""
    total = sum(count for count, _, _ in summaries)
    return total, _merge_pairs(summaries, 1, total), _merge_pairs(summaries, 2, total)


def _merge_pairs(summaries: list[Summary], part: int, total: int) -> dict[str, tuple[float, float]]:
    sums: dict[str, float] = defaultdict(float)
    peaks: dict[str, float] = {}
    for summary in summaries:
        count, pairs = summary[0], summary[part]
        for name, (mean, peak) in pairs.items():  # type: ignore[attr-defined]
            sums[name] += mean * count
            peaks[name] = max(peak, peaks.get(name, peak))
    return {name: (round(sums[name] / total, 3), peaks[name]) for name in sums}


def _row(resolution: Resolution, host: str, bucket: datetime, summary: Summary) -> SampleRollup:
    count, gauges, disks = summary
    values: dict[str, Any] = {name: list(pair) for name, pair in gauges.items()}
    values["disk_percent"] = {mount: list(pair) for mount, pair in disks.items()}
    return SampleRollup(resolution=resolution, host=host, bucket=bucket, samples=count, values=values)


# --- Reading ------------------------------------------------------------------------------------------------------


def resolution_for(span: timedelta) -> str:
    """Raw samples up to 3 h, minutes up to a day, hours beyond."""
    if span <= RAW_UP_TO:
        return RAW
    return Resolution.MINUTE if span <= MINUTES_UP_TO else Resolution.HOUR


Point = tuple[datetime, float, float]  # (at, mean, peak); a raw sample's mean and peak are its value


def metric_series(
    gauge: str, since: datetime, host: str | None, resolution: str = AUTO, max_points: int = 2000
) -> tuple[str, dict[str, list[Point]]]:
    """The resolution used and, per host, the newest `max_points` points of `gauge` since `since`, oldest first."""
    if resolution == AUTO:
        resolution = resolution_for(timezone.now() - since)
    rows: Iterable[tuple[str, datetime, Any]]
    if resolution == RAW:
        samples = SystemSample.objects.filter(taken_at__gte=since)
        samples = samples.filter(host=host) if host else samples
        rows = samples.order_by("host", "-taken_at").values_list("host", "taken_at", gauge)
        to_point = _raw_point
    else:
        rollups = SampleRollup.objects.filter(resolution=resolution, bucket__gte=since)
        rollups = rollups.filter(host=host) if host else rollups
        rows = rollups.order_by("host", "-bucket").values_list("host", "bucket", "values")
        to_point = _rollup_point
    series: dict[str, list[Point]] = {}
    for row_host, at, value in rows:
        points = series.setdefault(row_host, [])
        if len(points) < max_points and (point := to_point(gauge, at, value)) is not None:
            points.append(point)
    return resolution, {name: points[::-1] for name, points in sorted(series.items())}


def _raw_point(gauge: str, at: datetime, value: Any) -> Point:
    return at, float(value), float(value)


def _rollup_point(gauge: str, at: datetime, values: dict[str, Any]) -> Point | None:
    pair = values.get(gauge)
    return (at, float(pair[0]), float(pair[1])) if pair else None


def prune_rollups(now: datetime | None = None, batch_size: int = PRUNE_BATCH) -> int:
    """Delete minute and hour roll-ups past their retention, `batch_size` rows per statement; returns how many."""
    now = now or timezone.now()
    deleted = 0
    for resolution, keep in [
        (Resolution.MINUTE, timedelta(days=settings.MONITORING_MINUTE_RETENTION_DAYS)),
        (Resolution.HOUR, timedelta(days=settings.MONITORING_HOUR_RETENTION_DAYS)),
    ]:
        expired = SampleRollup.objects.filter(resolution=resolution, bucket__lt=now - keep)
        while ids := list(expired.values_list("pk", flat=True)[:batch_size]):
            deleted += SampleRollup.objects.filter(pk__in=ids).delete()[0]
    return deleted
