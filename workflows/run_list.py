"""The run list's building blocks: its views (recent, upcoming, running, failed in 24 h, late, all), the ghost
filter, the cells (state badges, relative times, durations) and a paginator that never counts a huge table.

Every view filters and orders on indexed columns (`expected_start_time`, `(state_type, expected_start_time)`), so a
page of a million-row mirror is an index scan of 50 rows plus a planner estimate for the count.
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timedelta
from typing import Any

from django.contrib import admin
from django.core.paginator import Page, Paginator
from django.db import connection
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import timezone
from django.utils.functional import cached_property
from django.utils.html import format_html

from workflows.models import FlowRun, StateType

# Below this many rows an exact COUNT(*) is cheap (a few ms on an index) and an estimate would only confuse; above
# it a count costs tens of milliseconds per 100k rows, more than the rest of the page.
ESTIMATE_COUNTS_ABOVE = 10_000
FAILED_STATE_TYPES = [StateType.FAILED, StateType.CRASHED]
ACTIVE_STATE_TYPES = [StateType.PENDING, StateType.RUNNING, StateType.CANCELLING, StateType.PAUSED]
VIEW_PARAMETER = "view"
UPCOMING = "upcoming"
RUN_VIEWS = [
    ("running", "Running now"),
    ("failed24h", "Failed in the last 24 h"),
    ("late", "Late"),
    (UPCOMING, "Upcoming"),
    ("all", "All, future included"),
]


class EstimatedCountPaginator(Paginator):
    """Exact counts for small results; PostgreSQL's planner estimate when a list (filtered or not) is huge. Past the
    first page, the page's ids are read first and then its rows ("deferred join")."""

    @cached_property
    def count(self) -> int:
        queryset = self.object_list
        if connection.vendor == "postgresql" and isinstance(queryset, QuerySet):
            estimate = _table_estimate(queryset) if not queryset.query.where else _planner_estimate(queryset)
            if estimate > ESTIMATE_COUNTS_ABOVE:
                return estimate
        return super().count

    def page(self, number: Any) -> Page:
        """Past the first page, the OFFSET walk reads only ids (narrow rows in index order); the page's 50 rows are
        then read with their joins. Done in one query, PostgreSQL would join every skipped row before dropping it:
        page 200 of a million runs took 4-7x longer that way (bench/RESULTS.md)."""
        page = super().page(number)
        if page.number > 1 and isinstance(page.object_list, QuerySet):
            ids = list(page.object_list.values_list("pk", flat=True))
            page.object_list = self.object_list.filter(pk__in=ids)
        return page


def _table_estimate(queryset: QuerySet) -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT reltuples::bigint FROM pg_class WHERE oid = %s::regclass", [queryset.model._meta.db_table]
        )
        row = cursor.fetchone()
    return int(row[0]) if row else 0


def _planner_estimate(queryset: QuerySet) -> int:
    sql, params = queryset.order_by().values("pk").query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN (FORMAT JSON) {sql}", params)
        plan = cursor.fetchone()[0]
    plan = json.loads(plan) if isinstance(plan, str) else plan
    return int(plan[0]["Plan"]["Plan Rows"])


class NamedDefaultFilter(admin.SimpleListFilter):
    """A list filter whose "no choice" entry names what it shows (`default_title`) instead of Django's "All"."""

    default_title = "All"

    def choices(self, changelist: Any) -> Any:
        yield {
            "selected": self.value() is None,
            "query_string": changelist.get_query_string(remove=[self.parameter_name]),
            "display": self.default_title,
        }
        for lookup, title in self.lookup_choices:
            yield {
                "selected": self.value() == lookup,
                "query_string": changelist.get_query_string({self.parameter_name: lookup}),
                "display": title,
            }


class RunViewFilter(NamedDefaultFilter):
    """What the list shows: by default what happened and is happening (due now or earlier), newest first; future
    scheduled runs only under "Upcoming" (soonest first)."""

    title = "view"
    parameter_name = VIEW_PARAMETER

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        return list(RUN_VIEWS)

    default_title = "Recent (default)"

    def queryset(self, request: HttpRequest, queryset: QuerySet[FlowRun]) -> QuerySet[FlowRun]:
        if searching_by_id(request):
            return queryset
        return filter_run_view(queryset, self.value(), timezone.now())


def searching_by_id(request: HttpRequest) -> bool:
    """A search for one run by its Prefect id finds it whatever the view (upcoming, deleted in Prefect)."""
    try:
        uuid.UUID(request.GET.get("q", "").strip())
    except ValueError:
        return False
    return True


def filter_run_view(runs: QuerySet[FlowRun], view: str | None, now: datetime) -> QuerySet[FlowRun]:
    if view == "all":
        return runs
    if view == UPCOMING:
        return runs.filter(expected_start_time__gt=now)
    if view == "running":
        return runs.filter(state_type__in=ACTIVE_STATE_TYPES)
    if view == "failed24h":
        return runs.filter(state_type__in=FAILED_STATE_TYPES, end_time__gte=now - timedelta(hours=24))
    if view == "late":
        return runs.filter(state_type=StateType.SCHEDULED, expected_start_time__lt=now)
    return runs.filter(expected_start_time__lte=now)


def run_views(request: HttpRequest) -> list[dict[str, Any]]:
    """The views as tabs above the list; each keeps the other filters and the search."""
    current = request.GET.get(VIEW_PARAMETER)
    tabs = [(None, "Recent"), *RUN_VIEWS]
    views = []
    for value, label in tabs:
        query = request.GET.copy()
        query.pop("p", None)
        query.pop(VIEW_PARAMETER, None)
        if value:
            query[VIEW_PARAMETER] = value
        views.append({"label": label, "url": f"?{query.urlencode()}", "active": current == value})
    return views


class GhostFilter(NamedDefaultFilter):
    """Runs Prefect deleted ("ghosts") are hidden unless asked for."""

    title = "deleted in Prefect"
    parameter_name = "ghosts"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        return [("include", "Shown too"), ("only", "Only those")]

    default_title = "Hidden (default)"

    def queryset(self, request: HttpRequest, queryset: QuerySet[FlowRun]) -> QuerySet[FlowRun]:
        if self.value() == "include" or searching_by_id(request):
            return queryset
        return queryset.filter(deleted_in_prefect=self.value() == "only")


# --- Cells ----------------------------------------------------------------------------------------------------------


def state_badge(state_type: str, state_name: str, ghost: bool = False) -> str:
    badge = format_html(
        '<span class="run-state run-state--{}">{}</span>',
        (state_type or "unknown").lower(),
        state_name or state_type or "—",
    )
    if ghost:
        return format_html(
            '{} <span class="run-state run-state--ghost" title="Prefect deleted this run">deleted</span>', badge
        )
    return badge


def time_cell(value: datetime | None, now: datetime | None = None) -> str:
    """Relative time ("3 min ago", "in 2 h"), the exact local time (to the second) in its title."""
    if value is None:
        return "—"
    exact = timezone.localtime(value).strftime("%Y-%m-%d %H:%M:%S %Z")
    return format_html(
        '<time class="run-time" datetime="{}" title="{}">{}</time>', value.isoformat(), exact, relative(value, now)
    )


def relative(value: datetime, now: datetime | None = None) -> str:
    seconds = ((now or timezone.now()) - value).total_seconds()
    text = _span(abs(seconds))
    if text == "now":
        return "just now"
    return f"{text} ago" if seconds > 0 else f"in {text}"


def _span(seconds: float) -> str:
    for unit, size in (("d", 86_400), ("h", 3_600), ("min", 60), ("s", 1)):
        if seconds >= size:
            return f"{int(seconds // size)} {unit}"
    return "now"


def run_duration(run: FlowRun, now: datetime | None = None) -> str:
    """The run's time running: Prefect's total so far, or since it started while it runs."""
    if run.state_type == StateType.RUNNING and run.start_time:
        return format_seconds(((now or timezone.now()) - run.start_time).total_seconds())
    return format_seconds(run.total_run_time) if run.total_run_time else "—"


def format_seconds(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, rest = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {rest} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min"
