"""When each disk will cross its threshold: a least-squares line through its recent usage samples, extended forward
(read-only). A disk's threshold is the lowest critical level of the enabled disk thresholds that match its mount
(`DEFAULT_CRITICAL_PERCENT` when none does)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta

from monitoring.figures import linear_trend
from monitoring.models import Metric, SystemSample, Threshold

DEFAULT_CRITICAL_PERCENT = 95.0
SECONDS_PER_HOUR = 3600.0


@dataclass(frozen=True)
class DiskForecast:
    host: str
    mount: str
    samples: int
    current_percent: float
    growth_per_hour: float
    threshold_percent: float
    hours_left: float | None  # None: not growing, never crosses

    @property
    def subject(self) -> str:
        return f"disk:{self.host}:{self.mount}"


def usage_series(since: datetime, now: datetime) -> dict[tuple[str, str], list[tuple[float, float]]]:
    """(host, mount) → [(hours before `now`, negative; percent used)], oldest first."""
    series: dict[tuple[str, str], list[tuple[float, float]]] = defaultdict(list)
    samples = SystemSample.objects.filter(taken_at__gte=since, taken_at__lte=now).order_by("taken_at")
    for host, taken_at, disks in samples.values_list("host", "taken_at", "disk_percent").iterator(chunk_size=5000):
        hours = (taken_at - now).total_seconds() / SECONDS_PER_HOUR
        for mount, percent in (disks or {}).items():
            series[(host, mount)].append((hours, float(percent)))
    return series


def threshold_for(mount: str, thresholds: list[Threshold]) -> float:
    levels = [t.critical_level for t in thresholds if not t.scope_value or t.scope_value == mount]
    return min(levels, default=DEFAULT_CRITICAL_PERCENT)


def forecast_disks(now: datetime, lookback: timedelta, min_samples: int) -> list[DiskForecast]:
    """A forecast for each disk with at least `min_samples` samples in the lookback window, soonest first."""
    thresholds = list(Threshold.objects.filter(metric=Metric.DISK_PERCENT, enabled=True))
    forecasts = []
    for (host, mount), points in sorted(usage_series(now - lookback, now).items()):
        trend = linear_trend(points)
        if len(points) < min_samples or trend is None:
            continue
        slope, now_percent = trend  # the fitted line at x = 0, i.e. now
        threshold = threshold_for(mount, thresholds)
        if now_percent >= threshold:
            hours_left: float | None = 0.0
        else:
            hours_left = (threshold - now_percent) / slope if slope > 0 else None
        forecasts.append(
            DiskForecast(
                host, mount, len(points), round(now_percent, 2), round(slope, 4), threshold,
                None if hours_left is None else round(hours_left, 2),
            )
        )  # fmt: skip
    return sorted(forecasts, key=lambda f: (f.hours_left is None, f.hours_left or 0.0, f.subject))
