"""The mirror of Prefect: flows, deployments, work pools and flow runs, as last read from the Prefect API.

Rows are written only by `workflows.sync` and `workflows.services`; the admin and GraphQL read them. Rows Prefect
deleted are marked `deleted_in_prefect` ("ghosts", hidden by default) so history survives — except auto-scheduled
runs that never started, which Prefect regenerates freely and the sync drops (`never_started_auto_scheduled_run`).
"""

from __future__ import annotations

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q

from controlplane.db.fast_loading import FastLoadingModel


class StateType(models.TextChoices):
    SCHEDULED = "SCHEDULED"
    PENDING = "PENDING"
    RUNNING = "RUNNING"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"
    CRASHED = "CRASHED"
    PAUSED = "PAUSED"
    CANCELLING = "CANCELLING"


TERMINAL_STATE_TYPES = frozenset({StateType.COMPLETED, StateType.FAILED, StateType.CANCELLED, StateType.CRASHED})
# Runs not yet in a final state: few next to the finished ones, and what monitoring counts across the whole mirror.
ACTIVE_STATE_TYPES = (StateType.SCHEDULED, StateType.PENDING, StateType.RUNNING, StateType.PAUSED, StateType.CANCELLING)
# Prefect's scheduler gives each run it creates this idempotency key ("scheduled <deployment> <schedule> <time>").
AUTO_SCHEDULED_KEY_PREFIX = "scheduled "


def never_started_auto_scheduled_run() -> Q:
    """Runs Prefect's scheduler created that never started: Prefect deletes and regenerates them freely."""
    return Q(idempotency_key__startswith=AUTO_SCHEDULED_KEY_PREFIX, start_time__isnull=True, run_count=0)


class MirroredObject(FastLoadingModel):
    """Fields every mirrored Prefect object has. Pages of them load without `Model.__init__` (controlplane.orm)."""

    prefect_id = models.UUIDField(unique=True)
    created_in_prefect = models.DateTimeField(null=True, blank=True)
    updated_in_prefect = models.DateTimeField(null=True, blank=True)
    synced_at = models.DateTimeField(auto_now=True)
    deleted_in_prefect = models.BooleanField(default=False)

    class Meta:
        abstract = True


class WorkPool(MirroredObject):
    name = models.CharField(max_length=255, unique=True)
    type = models.CharField(max_length=100, blank=True)
    description = models.TextField(blank=True)
    is_paused = models.BooleanField(default=False)
    concurrency_limit = models.PositiveIntegerField(null=True, blank=True)
    status = models.CharField(max_length=20, blank=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Flow(MirroredObject):
    name = models.CharField(max_length=255, unique=True)
    tags = models.JSONField(default=list, blank=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Deployment(MirroredObject):
    name = models.CharField(max_length=255)
    flow = models.ForeignKey(Flow, on_delete=models.PROTECT, related_name="deployments")
    description = models.TextField(blank=True)
    tags = models.JSONField(default=list, blank=True)
    paused = models.BooleanField(default=False)
    status = models.CharField(max_length=20, blank=True)
    schedules_summary = models.TextField(blank=True)
    parameter_openapi_schema = models.JSONField(default=dict, blank=True)
    default_parameters = models.JSONField(default=dict, blank=True)
    work_pool = models.ForeignKey(
        WorkPool, null=True, blank=True, on_delete=models.SET_NULL, related_name="deployments"
    )
    work_queue_name = models.CharField(max_length=255, blank=True)
    concurrency_limit = models.PositiveIntegerField(null=True, blank=True)

    class Meta:
        ordering = ["flow__name", "name"]
        constraints = [models.UniqueConstraint(fields=["flow", "name"], name="deployment_unique_per_flow")]

    def __str__(self) -> str:
        return f"{self.flow.name}/{self.name}"

    @property
    def full_name(self) -> str:
        """The `flow-name/deployment-name` form Prefect's CLI and API use."""
        return str(self)

    @property
    def category(self) -> str:
        """The catalogue's category (system, recovery, analysis, …): a deployment's first tag (flows/catalogue/)."""
        return self.tags[0] if self.tags else ""


class FlowRun(MirroredObject):
    name = models.CharField(max_length=255)
    # No single-column indexes on these three: the composite `(fk, -expected_start_time)` indexes below lead with
    # the same column, and every index is paid for on each row the sync upserts.
    flow = models.ForeignKey(Flow, on_delete=models.PROTECT, related_name="runs", db_index=False)
    deployment = models.ForeignKey(
        Deployment, null=True, blank=True, on_delete=models.SET_NULL, related_name="runs", db_index=False
    )
    work_pool = models.ForeignKey(
        WorkPool, null=True, blank=True, on_delete=models.SET_NULL, related_name="runs", db_index=False
    )
    work_queue_name = models.CharField(max_length=255, blank=True)
    state_type = models.CharField(max_length=20, choices=StateType.choices, blank=True)
    state_name = models.CharField(max_length=100, blank=True)
    state_timestamp = models.DateTimeField(null=True, blank=True)
    state_message = models.TextField(blank=True)
    prefect_state_id = models.UUIDField(null=True, blank=True)
    expected_start_time = models.DateTimeField(null=True, blank=True)
    start_time = models.DateTimeField(null=True, blank=True)
    end_time = models.DateTimeField(null=True, blank=True)
    total_run_time = models.FloatField(default=0.0, help_text="seconds")
    run_count = models.PositiveIntegerField(default=0)
    parameters = models.JSONField(default=dict, blank=True)
    tags = models.JSONField(default=list, blank=True)
    idempotency_key = models.CharField(max_length=255, blank=True)
    parent_task_run_id = models.UUIDField(null=True, blank=True)
    # Indexed by partial indexes (below), as is `parent_prefect_id`: most runs are not subflow runs, so a full index
    # would hold a NULL entry for nearly every row — written on every upsert, and useless to the lookups.
    parent = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="subflow_runs", db_index=False
    )
    # The parent run's Prefect id (found through `parent_task_run_id`), kept so the `parent` link can be made when
    # the parent reaches the mirror after its subflow run.
    parent_prefect_id = models.UUIDField(null=True, blank=True)
    created_by = models.CharField(max_length=255, blank=True)
    # Whatever else Prefect sent that we do not model, kept so an unknown field is stored rather than lost.
    extra = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-expected_start_time"]
        permissions = [
            ("trigger_run", "Can trigger a run of a deployment"),
            ("cancel_run", "Can cancel a flow run"),
            ("retry_run", "Can retry a flow run"),
        ]
        indexes = [
            models.Index(fields=["-expected_start_time"], name="flowrun_expected_idx"),
            models.Index(fields=["-start_time"], name="flowrun_start_idx"),
            models.Index(fields=["-end_time"], name="flowrun_end_idx"),
            models.Index(fields=["state_type", "-expected_start_time"], name="flowrun_state_expected_idx"),
            models.Index(fields=["flow", "-expected_start_time"], name="flowrun_flow_expected_idx"),
            models.Index(fields=["deployment", "-expected_start_time"], name="flowrun_depl_expected_idx"),
            models.Index(fields=["work_pool", "-expected_start_time"], name="flowrun_pool_expected_idx"),
            models.Index(fields=["name"], name="flowrun_name_idx"),
            # `name LIKE 'prefix%'` (admin search) can use an index on PostgreSQL only with the pattern opclass.
            models.Index(fields=["name"], name="flowrun_name_prefix_idx", opclasses=["varchar_pattern_ops"]),
            # The run list's "deleted in Prefect: only those" view: ghosts are few, so this index is small and cheap.
            models.Index(
                fields=["-expected_start_time"], name="flowrun_ghost_expected_idx", condition=Q(deleted_in_prefect=True)
            ),
            # A run's subflow runs (and the SET_NULL of a deleted parent's children).
            models.Index(fields=["parent"], name="flowrun_parent_idx", condition=Q(parent__isnull=False)),
            # Active runs only (a small index, whatever the history): monitoring's late-run and by-state counts
            # read it alone (index-only scans) instead of visiting 100k heap pages at 1M runs (docs/architecture.md).
            models.Index(
                fields=["state_type", "deployment", "expected_start_time"],
                name="flowrun_active_idx",
                condition=Q(state_type__in=ACTIVE_STATE_TYPES, deleted_in_prefect=False),
            ),
            # Subflow runs whose parent is not mirrored yet: each sync batch checks for them.
            models.Index(
                fields=["parent_prefect_id"],
                name="flowrun_waiting_parent_idx",
                condition=Q(parent__isnull=True, parent_prefect_id__isnull=False),
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def is_terminal(self) -> bool:
        return self.state_type in TERMINAL_STATE_TYPES


class FlowRunStateChange(FastLoadingModel):
    """One state a run entered, kept here so the history outlives Prefect's own retention."""

    # Indexed by the composite `(flow_run, at)` below.
    flow_run = models.ForeignKey(FlowRun, on_delete=models.CASCADE, related_name="state_changes", db_index=False)
    prefect_state_id = models.UUIDField(null=True, blank=True, unique=True)
    from_state_type = models.CharField(max_length=20, blank=True)
    from_state_name = models.CharField(max_length=100, blank=True)
    to_state_type = models.CharField(max_length=20, choices=StateType.choices)
    to_state_name = models.CharField(max_length=100, blank=True)
    at = models.DateTimeField()
    message = models.TextField(blank=True)
    recorded_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["flow_run", "at"]
        indexes = [models.Index(fields=["flow_run", "at"], name="statechange_run_at_idx")]

    def __str__(self) -> str:
        return f"{self.from_state_type or '∅'} → {self.to_state_type} at {self.at:%Y-%m-%d %H:%M:%S}"


class SyncStatus(models.Model):
    """Health of one sync stream (flow runs, deployments, …): data for the admin and the health page."""

    stream = models.CharField(max_length=50, unique=True)
    cursor = models.DateTimeField(null=True, blank=True, help_text="Window start for the next incremental read.")
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    last_success_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    last_error_at = models.DateTimeField(null=True, blank=True)
    last_duration_seconds = models.FloatField(null=True, blank=True)
    last_rows_written = models.PositiveIntegerField(default=0)
    total_rows_written = models.PositiveBigIntegerField(default=0)

    class Meta:
        verbose_name_plural = "sync status"
        ordering = ["stream"]

    def __str__(self) -> str:
        return self.stream


SECONDS_PER_DAY = 86_400
MAX_CONCURRENT_RUNS = 1_000
MAX_RETRY_ATTEMPTS = 10


class OrchestrationConfig(models.Model):
    """The one row of orchestration settings, edited by admins; every change is audited."""

    max_concurrent_runs = models.PositiveIntegerField(
        default=5,
        validators=[MinValueValidator(1), MaxValueValidator(MAX_CONCURRENT_RUNS)],
        help_text="Applied as Prefect's own concurrency limit on the deployments and work pools we trigger into, at "
        "once when changed and at each trigger; the sync re-applies it where Prefect has lost it (a Prefect restart, "
        "a re-served deployment), so within one sync interval of the stack starting.",
    )
    retry_attempts = models.PositiveIntegerField(
        default=3,
        validators=[MaxValueValidator(MAX_RETRY_ATTEMPTS)],
        help_text="How many times a run triggered here is retried by Prefect when it fails (the run carries this "
        "retry policy, 10 s apart, instead of its flow decorator's), and how many times the auto-recovery flow re-runs "
        "each CRASHED run (each retry audited as the system). Applies to runs triggered after the change.",
    )
    health_check_interval_seconds = models.PositiveIntegerField(
        default=60,
        validators=[MinValueValidator(10), MaxValueValidator(SECONDS_PER_DAY)],
        help_text="The schedule of the served health-check deployment: a change is pushed to Prefect at once, and "
        "the serve process starts with it.",
    )
    auto_recovery_enabled = models.BooleanField(
        default=False,
        help_text="Switches the auto-recovery flow (deployment auto-recovery, every 5 minutes): on, it re-runs "
        "CRASHED runs (never FAILED ones) up to the retry attempts; off, it does nothing and says so.",
    )
    monitoring_enabled = models.BooleanField(
        default=True,
        help_text="Switches the monitoring samplers: off, the beat tasks take no host samples, check no components "
        "and raise no run alerts.",
    )
    default_timeout_seconds = models.PositiveIntegerField(
        default=3600,
        validators=[MinValueValidator(1), MaxValueValidator(7 * SECONDS_PER_DAY)],
        help_text="Prefect has no per-run timeout for a deployment run (only a flow's own timeout_seconds): the "
        "run-timeouts flow (every minute) cancels runs still RUNNING this long after they started, audited as the "
        "system.",
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        # Moved here from the controlplane app (migration 0008) with its table, so existing databases keep the row.
        db_table = "controlplane_orchestrationconfig"
        verbose_name = "orchestration configuration"
        verbose_name_plural = "orchestration configuration"

    def __str__(self) -> str:
        return "Orchestration configuration"

    @classmethod
    def load(cls) -> OrchestrationConfig:
        config, _ = cls.objects.get_or_create(pk=1)
        return config


class BulkOperation(models.Model):
    """A bulk trigger / cancel / retry too large to finish within a web request, run by a Celery worker.

    `items` is the input as resolved when it was submitted; `results` grows batch by batch, one entry per item in
    input order (`{"target", "ok", "flow_run", "error"}`), so progress is readable while it runs. Written only by
    `workflows.bulk_jobs`.
    """

    class Kind(models.TextChoices):
        TRIGGER = "trigger"
        CANCEL = "cancel"
        RETRY = "retry"

    class Status(models.TextChoices):
        QUEUED = "queued"
        RUNNING = "running"
        FINISHED = "finished"
        FAILED = "failed"

    kind = models.CharField(max_length=20, choices=Kind.choices)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.QUEUED)
    # PROTECT, as on AuditEvent: the job runs as whoever submitted it, so that user must still exist.
    actor_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    actor_token = models.ForeignKey(
        "controlplane.ApiToken", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    actor_label = models.CharField(max_length=255)
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=500, blank=True)
    total = models.PositiveIntegerField(default=0)
    done = models.PositiveIntegerField(default=0)
    succeeded = models.PositiveIntegerField(default=0)
    failed = models.PositiveIntegerField(default=0)
    items = models.JSONField(default=list, blank=True)
    results = models.JSONField(default=list, blank=True)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["-created_at"], name="bulkop_created_idx")]

    def __str__(self) -> str:
        return f"bulk {self.kind} #{self.pk} ({self.status}, {self.done}/{self.total})"
