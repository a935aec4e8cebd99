"""Monitoring queries: reads of the monitoring tables and aggregates on the mirror; they never call a service."""

from __future__ import annotations

import enum
from datetime import timedelta
from typing import Annotated

import strawberry
import strawberry_django
from django.conf import settings
from django.db.models import Count, QuerySet
from django.utils import timezone
from strawberry_django.permissions import HasPerm

from controlplane.api.fields import CountedConnection
from monitoring.components import health_score
from monitoring.graphql.types import (
    AlertNode,
    ComponentHealthType,
    MetricPoint,
    MetricResolution,
    MetricSeries,
    NotificationChannelNode,
    RunHealthReport,
    RunHealthType,
    SystemHealth,
    ThresholdNode,
    view_perm,
)
from monitoring.metrics import SAMPLE_GAUGES
from monitoring.models import OPEN_STATUSES, Alert, ComponentHealth, NotificationChannel, Severity
from monitoring.models import Threshold as ThresholdModel
from monitoring.rollups import metric_series
from monitoring.run_health import run_health
from monitoring.sampling import latest_samples
from workflows.models import Deployment

MAX_POINTS_PER_HOST = 2000
SampleMetric = strawberry.enum(
    enum.Enum("SampleMetric", [(name.upper(), name) for name in SAMPLE_GAUGES]),
    name="SampleMetric",
    description="A column of the host samples.",
)


@strawberry.input(description="Every given condition must hold.")
class AlertFilter:
    status: list[str] | None = strawberry.UNSET
    severity: list[str] | None = strawberry.UNSET
    subject: str | None = strawberry.UNSET
    open_only: bool | None = strawberry.UNSET


def _filtered_alerts(filter: AlertFilter | None) -> QuerySet[Alert]:
    alerts = Alert.objects.order_by("-last_seen", "-id")
    if filter is None:
        return alerts
    if filter.status:
        alerts = alerts.filter(status__in=filter.status)
    if filter.severity:
        alerts = alerts.filter(severity__in=filter.severity)
    if filter.subject:
        alerts = alerts.filter(subject=filter.subject)
    if filter.open_only:
        alerts = alerts.filter(status__in=OPEN_STATUSES)
    return alerts


@strawberry.type
class MonitoringQuery:
    @strawberry_django.field(extensions=[view_perm("componenthealth")])
    def system_health(self) -> SystemHealth:
        components = list(ComponentHealth.objects.all())
        counts = dict(
            Alert.objects.filter(status__in=OPEN_STATUSES).values_list("severity").annotate(n=Count("pk")).order_by()
        )
        return SystemHealth(
            score=health_score(components),
            components=components,  # type: ignore[arg-type]
            latest_samples=latest_samples(),  # type: ignore[arg-type]
            open_critical_alerts=counts.get(Severity.CRITICAL, 0),
            open_warning_alerts=counts.get(Severity.WARNING, 0),
        )

    @strawberry_django.field(extensions=[view_perm("componenthealth")])
    def components(self) -> list[ComponentHealthType]:
        return ComponentHealth.objects.order_by("component")  # type: ignore[return-value]

    @strawberry_django.field(
        extensions=[view_perm("systemsample")],
        description=f"A host metric over the last `range` seconds, per host (the newest {MAX_POINTS_PER_HOST} points"
        " at most). AUTO resolution: raw samples up to 3 h, per-minute roll-ups up to a day, per-hour beyond.",
    )
    def metrics(
        self,
        metric: SampleMetric,  # type: ignore[valid-type]
        range_seconds: Annotated[int, strawberry.argument(name="range")] = 3600,
        host: str | None = None,
        resolution: MetricResolution = MetricResolution.AUTO,
    ) -> list[MetricSeries]:
        attribute = metric.value
        since = timezone.now() - timedelta(seconds=max(1, range_seconds))
        used, series = metric_series(attribute, since, host, resolution.value, MAX_POINTS_PER_HOST)
        return [
            MetricSeries(
                host=name,
                metric=attribute,
                resolution=MetricResolution(used),
                points=[MetricPoint(at=at, value=mean, peak=peak) for at, mean, peak in points],
            )
            for name, points in series.items()
        ]

    @strawberry_django.field(
        extensions=[HasPerm("workflows.view_flowrun", fail_silently=False)],
        description="Run health figures from the mirror over `window` seconds, overall and per deployment.",
    )
    def run_health(
        self,
        window: Annotated[int | None, strawberry.argument(description="Seconds; RUN_HEALTH_WINDOW_SECONDS.")] = None,
        deployment: Annotated[str | None, strawberry.argument(description="`flow/deployment`")] = None,
    ) -> RunHealthReport:
        seconds = window or settings.RUN_HEALTH_WINDOW_SECONDS
        deployment_id = None
        if deployment:
            flow_name, _, name = deployment.rpartition("/")
            found = Deployment.objects.filter(name=name, flow__name=flow_name).values_list("pk", flat=True).first()
            deployment_id = found if found is not None else -1
        overall, per_deployment = run_health(timedelta(seconds=seconds), deployment_id)
        return RunHealthReport(
            window_seconds=seconds,
            overall=RunHealthType.of(overall),
            deployments=[RunHealthType.of(health) for health in per_deployment],
        )

    @strawberry_django.connection(CountedConnection[AlertNode], extensions=[view_perm("alert")])
    def alerts(self, filter: AlertFilter | None = None) -> QuerySet[Alert]:
        return _filtered_alerts(filter)

    @strawberry_django.field(extensions=[view_perm("threshold")])
    def thresholds(self) -> list[ThresholdNode]:
        return ThresholdModel.objects.order_by("metric", "name")  # type: ignore[return-value]

    @strawberry_django.field(extensions=[view_perm("notificationchannel")])
    def notification_channels(self) -> list[NotificationChannelNode]:
        return NotificationChannel.objects.order_by("name")  # type: ignore[return-value]
