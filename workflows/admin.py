"""Read-only admin of the Prefect mirror, built for tables of millions of runs, plus the sync status.

Mirror rows are written only by the sync and the services, so every mirror admin here is view-only. Huge-table
rules (docs/architecture.md, "Huge tables"): no full result count, an estimated-count paginator (PostgreSQL's
estimate above 10k rows, `workflows.run_list`), no facets, `list_select_related`, `raw_id_fields`, filters and
ordering only on indexed columns, no `date_hierarchy`. The run list's views and cells live in `workflows.run_list`,
the run page in `workflows.run_page`, the deployments' figures in `workflows.deployment_page`. Operator actions
(trigger, cancel, retry) are added to these classes and call `workflows.services`; the configuration saves through
`workflows.configuration`.
"""

from __future__ import annotations

import uuid
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join

from controlplane.admin_mixins import PlainActionCheckboxMixin, ReadOnlyAdminMixin, SavedThroughServiceMixin
from controlplane.audit.actor import Actor
from controlplane.environment import environment_settings
from controlplane.exceptions import ServiceError
from workflows import deployment_page
from workflows.admin_actions import RunOperationsAdminMixin, TriggerDeploymentAdminMixin
from workflows.configuration import CONFIG_FIELDS, update_config
from workflows.models import (
    BulkOperation,
    Deployment,
    Flow,
    FlowRun,
    OrchestrationConfig,
    SyncStatus,
    WorkPool,
)
from workflows.run_list import (
    UPCOMING,
    VIEW_PARAMETER,
    EstimatedCountPaginator,
    GhostFilter,
    RunViewFilter,
    run_duration,
    run_views,
    state_badge,
    time_cell,
)
from workflows.run_page import RunPageAdminMixin
from workflows.services import CANCEL, RETRY, TRIGGER


class MirrorAdmin(PlainActionCheckboxMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    """View-only: the mirror follows Prefect; changes go through the services (admin actions) instead."""

    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER
    paginator = EstimatedCountPaginator
    list_per_page = 50


class NameListFilter(admin.RelatedFieldListFilter):
    """A flow or work pool filter's choices read as (id, name) pairs: the default loads whole rows (their JSON too)
    to print each one's name."""

    def field_choices(self, field: Any, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[int, str]]:
        return list(field.related_model.objects.order_by("name").values_list("pk", "name"))


class DeploymentListFilter(admin.RelatedFieldListFilter):
    """Deployment choices as `flow/deployment`, read as names in one query (the default would load each deployment,
    its parameter schema included, then its flow)."""

    def field_choices(self, field: Any, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[int, str]]:
        deployments = Deployment.objects.order_by("flow__name", "name").values_list("pk", "flow__name", "name")
        return [(pk, f"{flow}/{name}") for pk, flow, name in deployments]


CHANGELIST = "workflows_flowrun_changelist"
# What the run list's columns, links and checkboxes read (a test asserts no row costs a query of its own).
RUN_LIST_FIELDS = [
    "name", "state_type", "state_name", "deleted_in_prefect", "expected_start_time", "start_time", "total_run_time",
    "deployment__name", "deployment__flow__name",
]  # fmt: skip


@admin.register(FlowRun)
class FlowRunAdmin(RunPageAdminMixin, RunOperationsAdminMixin, MirrorAdmin):
    list_display = ["name", "state", "deployment_name", "expected", "started", "duration"]
    list_filter = [
        RunViewFilter, "state_type", ("deployment", DeploymentListFilter), ("flow", NameListFilter),
        ("work_pool", NameListFilter), GhostFilter,
    ]  # fmt: skip
    list_select_related = ["deployment__flow"]
    raw_id_fields = ["flow", "deployment", "work_pool", "parent"]
    search_fields = ["name"]
    search_help_text = "Run name prefix, or a Prefect flow-run id."
    ordering = ["-expected_start_time"]
    sortable_by = ["expected", "started", "name"]
    actions: list[Any] = []
    fieldsets = [
        (None, {"fields": ["name", "prefect_id", "flow", "deployment", "work_pool", "work_queue_name", "parent"]}),
        ("State", {"fields": ["state_type", "state_name", "state_timestamp", "state_message", "run_count"]}),
        ("Timing", {"fields": ["expected_start_time", "start_time", "end_time", "total_run_time"]}),
        ("Input", {"fields": ["parameters", "tags", "idempotency_key", "created_by"]}),
        (
            "Mirror",
            {"fields": ["created_in_prefect", "updated_in_prefect", "synced_at", "deleted_in_prefect", "extra"]},
        ),
    ]

    class Media:
        css = {"all": ["workflows/runs.css"]}

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        return super().changelist_view(request, {**(extra_context or {}), "run_views": run_views(request)})

    def get_queryset(self, request: HttpRequest) -> QuerySet[FlowRun]:
        """The list reads only the columns it shows: the run's JSON columns and its deployment's parameter schema
        would otherwise be decoded for every row. (Actions posted from the list get whole runs.)"""
        runs = super().get_queryset(request)
        if request.method == "GET" and request.resolver_match and request.resolver_match.url_name == CHANGELIST:
            return runs.only(*RUN_LIST_FIELDS)
        return runs

    def get_ordering(self, request: HttpRequest) -> list[str]:
        """Upcoming runs soonest first; every other view newest first."""
        if request.GET.get(VIEW_PARAMETER) == UPCOMING:
            return ["expected_start_time"]
        return list(self.ordering)

    @admin.display(description="state", ordering="state_type")
    def state(self, run: FlowRun) -> str:
        return state_badge(run.state_type, run.state_name, ghost=run.deleted_in_prefect)

    @admin.display(description="deployment")
    def deployment_name(self, run: FlowRun) -> str:
        """The deployment's own name (its flow in the title): the list is read beside a filter column."""
        if run.deployment is None:
            return "—"
        return format_html('<span title="{}">{}</span>', run.deployment.full_name, run.deployment.name)

    @admin.display(description="due", ordering="expected_start_time")
    def expected(self, run: FlowRun) -> str:
        return time_cell(run.expected_start_time)

    @admin.display(description="started", ordering="start_time")
    def started(self, run: FlowRun) -> str:
        return time_cell(run.start_time)

    @admin.display(description="duration")
    def duration(self, run: FlowRun) -> str:
        return run_duration(run)

    def get_search_results(self, request: HttpRequest, queryset: QuerySet, search_term: str) -> tuple[QuerySet, bool]:
        """A UUID finds the run by Prefect id; anything else is a name prefix (index-friendly, unlike `contains`)."""
        term = search_term.strip()
        if not term:
            return queryset, False
        try:
            return queryset.filter(prefect_id=uuid.UUID(term)), False
        except ValueError:
            return queryset.filter(name__startswith=term), False


class CategoryFilter(admin.SimpleListFilter):
    """The flow catalogue's categories: each deployment's first tag (deployments are few: read them all)."""

    title = "category"
    parameter_name = "category"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        categories = {tags[0] for tags in Deployment.objects.values_list("tags", flat=True) if tags}
        return [(category, category) for category in sorted(categories)]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Deployment]) -> QuerySet[Deployment]:
        return queryset.filter(tags__0=self.value()) if self.value() else queryset


@admin.register(Deployment)
class DeploymentAdmin(TriggerDeploymentAdminMixin, MirrorAdmin):
    list_display = [
        "__str__", "category", "schedule", "last_run", "next_run", "success_rate", "runs", "paused", "work_pool",
        "concurrency_limit",
    ]  # fmt: skip
    list_filter = [CategoryFilter, "paused", "status", "work_pool", "deleted_in_prefect"]
    list_select_related = ["flow", "work_pool"]
    raw_id_fields = ["flow", "work_pool"]
    search_fields = ["name", "flow__name"]
    actions: list[Any] = []
    readonly_fields = ["last_run", "next_run", "success_rate", "runs", "parameters"]
    fieldsets = [
        (None, {"fields": ["name", "flow", "description", "prefect_id", "tags", "runs"]}),
        ("Schedule and runs", {"fields": ["schedules_summary", "paused", "last_run", "next_run", "success_rate"]}),
        ("Parameters", {"fields": ["parameters"]}),
        ("Work", {"fields": ["work_pool", "work_queue_name", "concurrency_limit", "status"]}),
        ("Mirror", {"fields": ["created_in_prefect", "updated_in_prefect", "synced_at", "deleted_in_prefect"]}),
    ]

    class Media:
        css = {"all": ["workflows/runs.css"]}

    def get_queryset(self, request: HttpRequest) -> QuerySet[Deployment]:
        return deployment_page.with_run_figures(super().get_queryset(request))

    @admin.display(description="schedule", ordering="schedules_summary")
    def schedule(self, deployment: Deployment) -> str:
        return deployment.schedules_summary or "—"

    @admin.display(description="last run", ordering="last_run_at")
    def last_run(self, deployment: Deployment) -> str:
        return deployment_page.last_run_cell(deployment)

    @admin.display(description="next run", ordering="next_run_at")
    def next_run(self, deployment: Deployment) -> str:
        return deployment_page.next_run_cell(deployment)

    @admin.display(description=f"success (last {deployment_page.SUCCESS_RATE_RUNS})")
    def success_rate(self, deployment: Deployment) -> str:
        return deployment_page.success_rate_cell(deployment)

    @admin.display(description="runs")
    def runs(self, deployment: Deployment) -> str:
        return deployment_page.runs_link(deployment)

    @admin.display(description="parameters")
    def parameters(self, deployment: Deployment) -> str:
        return deployment_page.parameters_table(deployment)


@admin.register(Flow)
class FlowAdmin(MirrorAdmin):
    list_display = ["name", "tags", "created_in_prefect", "deleted_in_prefect"]
    list_filter = ["deleted_in_prefect"]
    search_fields = ["name"]


@admin.register(WorkPool)
class WorkPoolAdmin(MirrorAdmin):
    list_display = ["name", "type", "status", "is_paused", "concurrency_limit", "deleted_in_prefect"]
    list_filter = ["type", "is_paused", "deleted_in_prefect"]
    search_fields = ["name"]
    actions: list[Any] = []


@admin.register(SyncStatus)
class SyncStatusAdmin(MirrorAdmin):
    list_display = [
        "stream", "healthy", "lag", "last_success_at", "last_error_at", "short_error", "last_duration",
        "last_rows_written", "total_rows_written", "cursor",
    ]  # fmt: skip
    readonly_fields = ["lag", "healthy"]

    @admin.display(description="lag", ordering="last_success_at")
    def lag(self, status: SyncStatus) -> str:
        """How old the mirror's last successful update of this stream is."""
        if status.last_success_at is None:
            return "never synced"
        return f"{(timezone.now() - status.last_success_at).total_seconds():.0f}s"

    @admin.display(description="ok", boolean=True)
    def healthy(self, status: SyncStatus) -> bool:
        if status.last_success_at is None:
            return False
        return status.last_error_at is None or status.last_success_at >= status.last_error_at

    @admin.display(description="last error")
    def short_error(self, status: SyncStatus) -> str:
        return status.last_error[:120] if status.last_error else ""

    @admin.display(description="duration")
    def last_duration(self, status: SyncStatus) -> str:
        return f"{status.last_duration_seconds:.2f}s" if status.last_duration_seconds is not None else "—"


@admin.register(OrchestrationConfig)
class OrchestrationConfigAdmin(SavedThroughServiceMixin, admin.ModelAdmin):
    """The single configuration row. Changes go through `update_config` (audited, cap pushed to Prefect)."""

    fields = [*CONFIG_FIELDS, "updated_at", "environment"]
    readonly_fields = ["updated_at", "environment"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        config = OrchestrationConfig.load()
        return HttpResponseRedirect(reverse("admin:workflows_orchestrationconfig_change", args=[config.pk]))

    @admin.display(description="environment (secrets masked)")
    def environment(self, config: OrchestrationConfig) -> str:
        rows = format_html_join(
            "",
            "<tr><td><code>{}</code></td><td><code>{}</code></td></tr>",
            ((item.name, item.shown_value if item.is_set else "(default)") for item in environment_settings()),
        )
        return format_html("<table>{}</table>", rows)

    def save_model(self, request: HttpRequest, obj: OrchestrationConfig, form: forms.ModelForm, change: bool) -> None:
        changes = {name: form.cleaned_data[name] for name in form.changed_data if name in CONFIG_FIELDS}
        if not changes:
            return
        try:
            update_config(Actor.from_request(request), changes)
        except ServiceError as exc:
            messages.error(request, exc.message)


@admin.register(BulkOperation)
class BulkOperationAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Bulk operations run in the background: progress while they run, then one result per item. Read-only."""

    list_display = ["__str__", "kind", "status", "actor_label", "progress", "succeeded", "failed", "created_at"]
    list_filter = ["kind", "status"]
    show_facets = admin.ShowFacets.NEVER
    fields = [
        "kind", "status", "actor_label", "actor_user", "actor_token", "ip_address", "progress", "succeeded", "failed",
        "created_at", "started_at", "finished_at", "error", "item_results",
    ]  # fmt: skip
    readonly_fields = fields

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        """Whoever may run operations sees the bulk ones (operators and admins): no permission of its own."""
        return any(request.user.has_perm(permission) for permission in (TRIGGER, CANCEL, RETRY))

    def has_module_permission(self, request: HttpRequest) -> bool:
        return self.has_view_permission(request)

    @admin.display(description="progress")
    def progress(self, operation: BulkOperation) -> str:
        return f"{operation.done} / {operation.total}"

    @admin.display(description="results")
    def item_results(self, operation: BulkOperation) -> str:
        """One row per item, in input order; an item not reached yet shows as pending."""
        rows = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            (_result_row(position, result) for position, result in enumerate(operation.results or [])),
        )
        return format_html(
            "<table><tr><th>item</th><th>result</th><th>flow run</th><th>error</th></tr>{}</table>", rows
        )


def _result_row(position: int, result: dict[str, Any] | None) -> tuple[str, str, str, str]:
    if result is None:
        return (str(position + 1), "pending", "", "")
    outcome = "ok" if result["ok"] else "failed"
    return (f"{position + 1}: {result['target']}", outcome, result.get("flow_run") or "", result.get("error") or "")
