"""Monitoring: host samples, component health, thresholds, alerts, notification channels and their deliveries.

Rows change only through `monitoring.services` (alerts, thresholds, channels: permission, validation, write and audit
event in one transaction) and `monitoring.sampling` / `monitoring.components` (measurements). Workflows never import
this app: per-deployment alert rules live here (`DeploymentAlertRule`) and point at the mirror.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q


class SystemSample(models.Model):
    """One psutil reading of a host; raw samples are pruned after `MONITORING_SAMPLE_RETENTION_HOURS`."""

    host = models.CharField(max_length=255)
    taken_at = models.DateTimeField()
    cpu_percent = models.FloatField()
    memory_percent = models.FloatField()
    swap_percent = models.FloatField(default=0.0)
    disk_percent = models.JSONField(default=dict, blank=True, help_text="{mount: percent used}")
    load1 = models.FloatField(default=0.0)
    load5 = models.FloatField(default=0.0)
    load15 = models.FloatField(default=0.0)
    net_sent_bytes_per_second = models.FloatField(default=0.0)
    net_received_bytes_per_second = models.FloatField(default=0.0)
    disk_read_bytes_per_second = models.FloatField(default=0.0)
    disk_written_bytes_per_second = models.FloatField(default=0.0)
    process_cpu_percent = models.FloatField(default=0.0, help_text="the sampling control-plane process")
    process_rss_bytes = models.PositiveBigIntegerField(default=0)

    class Meta:
        ordering = ["-taken_at"]
        indexes = [models.Index(fields=["host", "-taken_at"], name="sample_host_taken_idx")]
        get_latest_by = "taken_at"

    def __str__(self) -> str:
        return f"{self.host} at {self.taken_at:%Y-%m-%d %H:%M:%S}"


class Resolution(models.TextChoices):
    MINUTE = "minute"
    HOUR = "hour"


class SampleRollup(models.Model):
    """The samples of one host over one minute or hour (monitoring/rollups.py): for each gauge its mean and peak,
    `{"cpu_percent": [mean, peak], …, "disk_percent": {mount: [mean, peak]}}`. Kept longer than raw samples, so a
    week's or a year's chart reads hundreds of rows, not tens of thousands."""

    resolution = models.CharField(max_length=10, choices=Resolution.choices)
    host = models.CharField(max_length=255)
    bucket = models.DateTimeField(help_text="start of the minute or hour (UTC)")
    samples = models.PositiveIntegerField(help_text="raw samples summarised")
    values = models.JSONField(default=dict)

    class Meta:
        ordering = ["-bucket"]
        constraints = [
            models.UniqueConstraint(fields=["resolution", "host", "bucket"], name="rollup_unique_bucket"),
        ]

    def __str__(self) -> str:
        return f"{self.host} {self.resolution} {self.bucket:%Y-%m-%d %H:%M}"


class ComponentStatus(models.TextChoices):
    OK = "ok"
    DEGRADED = "degraded"
    DOWN = "down"


class ComponentHealth(models.Model):
    """The last check of one component (database, broker, workers, beat, Prefect, listener, sync)."""

    component = models.CharField(max_length=50, unique=True)
    status = models.CharField(max_length=10, choices=ComponentStatus.choices)
    latency_ms = models.FloatField(null=True, blank=True)
    message = models.TextField(blank=True)
    since = models.DateTimeField(help_text="when the component entered this status")
    checked_at = models.DateTimeField()

    class Meta:
        ordering = ["component"]
        verbose_name_plural = "component health"

    def __str__(self) -> str:
        return f"{self.component}: {self.status}"


class Metric(models.TextChoices):
    CPU_PERCENT = "cpu_percent", "CPU %"
    MEMORY_PERCENT = "memory_percent", "memory %"
    SWAP_PERCENT = "swap_percent", "swap %"
    DISK_PERCENT = "disk_percent", "disk % used"
    LOAD1 = "load1", "load average (1 min)"
    RUN_ERROR_RATE = "run_error_rate", "run failure rate %"
    RUN_RETRY_RATE = "run_retry_rate", "run retry rate %"
    LATE_RUNS = "late_runs", "late runs"
    SYNC_LAG_SECONDS = "sync_lag_seconds", "sync lag (s)"
    COMPONENT_DOWN = "component_down", "component status (0 ok, 1 degraded, 2 down)"


class Scope(models.TextChoices):
    GLOBAL = "global"
    DEPLOYMENT = "deployment"
    HOST = "host"
    DISK = "disk"


class Comparison(models.TextChoices):
    ABOVE = ">", "above"
    BELOW = "<", "below"


class Severity(models.TextChoices):
    WARNING = "warning"
    CRITICAL = "critical"


SEVERITY_RANK = {Severity.WARNING: 1, Severity.CRITICAL: 2}


class Threshold(models.Model):
    """Alert when `metric` is beyond `warning_level` / `critical_level` for at least `for_seconds`."""

    name = models.CharField(max_length=100, unique=True)
    metric = models.CharField(max_length=30, choices=Metric.choices)
    scope = models.CharField(max_length=20, choices=Scope.choices, default=Scope.GLOBAL)
    scope_value = models.CharField(
        max_length=255, blank=True, help_text="the deployment (flow/name), host or mount; blank: every one"
    )
    comparison = models.CharField(max_length=1, choices=Comparison.choices, default=Comparison.ABOVE)
    warning_level = models.FloatField()
    critical_level = models.FloatField()
    for_seconds = models.PositiveIntegerField(default=0)
    enabled = models.BooleanField(default=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["metric", "name"]

    def __str__(self) -> str:
        return self.name

    @property
    def rule_key(self) -> str:
        return f"threshold:{self.pk}"


class DeploymentAlertRule(models.Model):
    """Per-deployment alerting that the mirror does not carry (workflows must not know about monitoring)."""

    deployment = models.OneToOneField("workflows.Deployment", on_delete=models.CASCADE, related_name="alert_rule")
    alert_on_failure = models.BooleanField(default=True, help_text="alert for each FAILED or CRASHED run")

    def __str__(self) -> str:
        return f"alert rule of {self.deployment_id}"


class AlertStatus(models.TextChoices):
    FIRING = "firing"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"


OPEN_STATUSES = (AlertStatus.FIRING, AlertStatus.ACKNOWLEDGED)


class Alert(models.Model):
    threshold = models.ForeignKey(Threshold, null=True, blank=True, on_delete=models.SET_NULL, related_name="alerts")
    rule = models.CharField(max_length=100, help_text="threshold:<id>, run_failed, …")
    subject = models.CharField(max_length=255, help_text="host:…, disk:…, deployment:…, run:…, component:…")
    flow_run = models.ForeignKey(
        "workflows.FlowRun", null=True, blank=True, on_delete=models.SET_NULL, related_name="+", db_index=False
    )
    severity = models.CharField(max_length=10, choices=Severity.choices)
    status = models.CharField(max_length=15, choices=AlertStatus.choices, default=AlertStatus.FIRING)
    first_seen = models.DateTimeField()
    last_seen = models.DateTimeField()
    peak_value = models.FloatField(null=True, blank=True)
    last_value = models.FloatField(null=True, blank=True)
    last_notified_at = models.DateTimeField(null=True, blank=True)
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+", db_index=False
    )
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    message = models.TextField(blank=True)

    class Meta:
        ordering = ["-last_seen"]
        permissions = [("acknowledge_alert", "Can acknowledge an alert"), ("resolve_alert", "Can resolve an alert")]
        constraints = [
            models.UniqueConstraint(
                fields=["rule", "subject"],
                condition=Q(status__in=["firing", "acknowledged"]),
                name="one_open_alert_per_rule_subject",
            )
        ]
        indexes = [models.Index(fields=["status", "-last_seen"], name="alert_status_seen_idx")]

    def __str__(self) -> str:
        return f"{self.severity} {self.rule} on {self.subject}"

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES


class BreachStart(models.Model):
    """When a rule's value first went beyond its warning level for a subject, while no alert is open yet (the
    `for_seconds` clock). Removed when the value comes back or the alert opens."""

    rule = models.CharField(max_length=100)
    subject = models.CharField(max_length=255)
    since = models.DateTimeField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["rule", "subject"], name="one_breach_per_rule_subject")]

    def __str__(self) -> str:
        return f"{self.rule} on {self.subject} since {self.since:%Y-%m-%d %H:%M:%S}"


class ChannelKind(models.TextChoices):
    SLACK = "slack"
    WEBHOOK = "webhook"
    EMAIL = "email"


class NotificationChannel(models.Model):
    name = models.CharField(max_length=100, unique=True)
    kind = models.CharField(max_length=10, choices=ChannelKind.choices)
    target = models.TextField(help_text="the webhook URL, or comma-separated email addresses")
    secret = models.CharField(max_length=255, blank=True, help_text="HMAC key of the generic webhook's X-Signature")
    min_severity = models.CharField(max_length=10, choices=Severity.choices, default=Severity.WARNING)
    deployment_filter = models.CharField(
        max_length=255, blank=True, help_text="only alerts about this deployment (flow/name)"
    )
    tag_filter = models.CharField(max_length=100, blank=True, help_text="only alerts about runs with this tag")
    enabled = models.BooleanField(default=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class DeliveryStatus(models.TextChoices):
    PENDING = "pending"
    SENT = "sent"
    FAILED = "failed"


class Delivery(models.Model):
    channel = models.ForeignKey(NotificationChannel, on_delete=models.CASCADE, related_name="deliveries")
    alert = models.ForeignKey(Alert, null=True, blank=True, on_delete=models.CASCADE, related_name="deliveries")
    status = models.CharField(max_length=10, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    response_code = models.PositiveIntegerField(null=True, blank=True)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name_plural = "deliveries"

    def __str__(self) -> str:
        return f"{self.channel} / {self.alert_id}: {self.status}"


class MonitoringCursor(models.Model):
    """Where a scan over the mirror stopped (e.g. the failed-run scan's last `end_time`)."""

    name = models.CharField(max_length=50, unique=True)
    position = models.DateTimeField()

    def __str__(self) -> str:
        return self.name
