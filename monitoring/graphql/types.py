"""GraphQL types of monitoring: health, samples, run health, alerts, thresholds and notification channels. A
channel's URL and secret are never exposed: only the masked target and whether a secret is set."""

from __future__ import annotations

import enum
from datetime import datetime

import strawberry
import strawberry_django
from strawberry import auto, relay
from strawberry.scalars import JSON
from strawberry_django.permissions import HasPerm

from controlplane.api.fields import model_type
from monitoring import notify
from monitoring.models import Alert, ComponentHealth, Delivery, NotificationChannel, SystemSample, Threshold
from monitoring.run_health import RunHealth
from workflows.graphql.types import FlowRunNode


def view_perm(model: str) -> HasPerm:
    """Refused with an error (not an empty result), so a client learns why."""
    return HasPerm(f"monitoring.view_{model}", fail_silently=False)


@model_type(ComponentHealth, name="ComponentHealth")
class ComponentHealthType:
    component: auto
    status: str = strawberry_django.field(description="ok, degraded or down")
    latency_ms: float | None
    message: auto
    since: datetime
    checked_at: datetime


@model_type(SystemSample, name="SystemSample")
class SystemSampleType:
    host: auto
    taken_at: datetime
    cpu_percent: float
    memory_percent: float
    swap_percent: float
    disk_percent: JSON = strawberry_django.field(description="{mount: percent used}")
    load1: float
    load5: float
    load15: float
    net_sent_bytes_per_second: float
    net_received_bytes_per_second: float
    disk_read_bytes_per_second: float
    disk_written_bytes_per_second: float
    process_cpu_percent: float
    process_rss_bytes: int


@strawberry.type(description="The health score (0 to 100, weighting in docs/architecture.md) and what it is made of.")
class SystemHealth:
    score: float
    components: list[ComponentHealthType]
    latest_samples: list[SystemSampleType]
    open_critical_alerts: int
    open_warning_alerts: int


@strawberry.enum(description="Raw samples, or their per-minute / per-hour roll-ups (mean and peak).")
class MetricResolution(enum.Enum):
    AUTO = "auto"
    RAW = "raw"
    MINUTE = "minute"
    HOUR = "hour"


@strawberry.type
class MetricPoint:
    at: datetime = strawberry.field(description="The sample's time, or the start of the roll-up's minute or hour.")
    value: float = strawberry.field(description="The sample's value, or the mean over the roll-up's bucket.")
    peak: float = strawberry.field(description="The greatest sample in the bucket (a raw sample: its value).")


@strawberry.type(description="One host's samples of a metric, oldest first.")
class MetricSeries:
    host: str
    metric: str
    resolution: MetricResolution = strawberry.field(description="The resolution used (never AUTO).")
    points: list[MetricPoint]


@strawberry.type(description="Run health over a window: rates in percent (null without finished runs).")
class RunHealthType:
    deployment: str | None
    runs: int
    finished: int
    completed: int
    failed: int
    retried: int
    late: int
    slow: int
    success_rate: float | None
    failure_rate: float | None
    retry_rate: float | None
    median_duration_seconds: float | None

    @classmethod
    def of(cls, health: RunHealth) -> RunHealthType:
        return cls(
            deployment=health.deployment_name or None,
            runs=health.runs,
            finished=health.finished,
            completed=health.completed,
            failed=health.failed,
            retried=health.retried,
            late=health.late,
            slow=health.slow,
            success_rate=health.success_rate,
            failure_rate=health.failure_rate,
            retry_rate=health.retry_rate,
            median_duration_seconds=health.median_duration_seconds,
        )


@strawberry.type
class RunHealthReport:
    window_seconds: int
    overall: RunHealthType
    deployments: list[RunHealthType]


@model_type(Alert, name="Alert")
class AlertNode(relay.Node):
    rule: auto
    subject: auto
    severity: str
    status: str
    first_seen: datetime
    last_seen: datetime
    peak_value: float | None
    last_value: float | None
    last_notified_at: datetime | None
    acknowledged_at: datetime | None
    resolved_at: datetime | None
    message: auto
    flow_run: FlowRunNode | None

    @strawberry_django.field(only=["acknowledged_by__username"], select_related=["acknowledged_by"])
    def acknowledged_by(self, root: Alert) -> str | None:
        return root.acknowledged_by.get_username() if root.acknowledged_by else None


@model_type(Threshold, name="Threshold")
class ThresholdNode(relay.Node):
    name: auto
    metric: str
    scope: str
    scope_value: auto
    comparison: str = strawberry_django.field(description="> (alert above) or < (alert below)")
    warning_level: float
    critical_level: float
    for_seconds: int
    enabled: auto


@model_type(NotificationChannel, name="NotificationChannel")
class NotificationChannelNode(relay.Node):
    name: auto
    kind: str
    min_severity: str
    deployment_filter: auto
    tag_filter: auto
    enabled: auto

    @strawberry_django.field(only=["kind", "target"], description="The URL's scheme and host only; e-mail addresses.")
    def target(self, root: NotificationChannel) -> str:
        return notify.masked_target(root)

    @strawberry_django.field(only=["secret"])
    def has_secret(self, root: NotificationChannel) -> bool:
        return bool(root.secret)


@model_type(Delivery, name="Delivery")
class DeliveryType:
    status: str
    attempts: int
    response_code: int | None
    error: auto
    created_at: datetime
    sent_at: datetime | None
