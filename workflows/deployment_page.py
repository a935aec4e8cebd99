"""What the deployment list and page show besides the mirrored fields: the last run and its state, the next run,
the success rate of its last finished runs, a link to the deployment's runs, and its parameters as a table.

The figures are correlated subqueries, one query for a page of deployments, each subquery reading a bounded number
of one deployment's runs (the success rate: its last SUCCESS_RATE_RUNS finished runs, on the
`(deployment, expected_start_time)` index) — a rate over a time window would count every run in the window, tens of
thousands per deployment at a million runs.
"""

from __future__ import annotations

import json
from typing import Any

from django.db.models import Func, IntegerField, OuterRef, QuerySet, Subquery
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join

from workflows.models import Deployment, FlowRun, StateType
from workflows.run_list import state_badge, time_cell

SUCCESS_RATE_RUNS = 50
FINISHED = [StateType.COMPLETED, StateType.FAILED, StateType.CRASHED, StateType.CANCELLED]


def with_run_figures(deployments: QuerySet[Deployment]) -> QuerySet[Deployment]:
    now = timezone.now()
    runs = FlowRun.objects.filter(deployment=OuterRef("pk"), deleted_in_prefect=False)
    last = runs.filter(expected_start_time__lte=now).order_by("-expected_start_time")
    upcoming = runs.filter(expected_start_time__gt=now, state_type=StateType.SCHEDULED).order_by("expected_start_time")
    return deployments.annotate(
        last_run_pk=Subquery(last.values("pk")[:1]),
        last_run_name=Subquery(last.values("name")[:1]),
        last_run_state_type=Subquery(last.values("state_type")[:1]),
        last_run_state_name=Subquery(last.values("state_name")[:1]),
        last_run_at=Subquery(last.values("expected_start_time")[:1]),
        next_run_at=Subquery(upcoming.values("expected_start_time")[:1]),
        finished_recently=_count_of_last_finished(),
        completed_recently=_count_of_last_finished(state_type=StateType.COMPLETED),
    )


def _count_of_last_finished(**condition: Any) -> Subquery:
    """How many of the deployment's last SUCCESS_RATE_RUNS finished runs (that meet `condition`)."""
    last_finished = (
        FlowRun.objects.filter(deployment=OuterRef(OuterRef("pk")), deleted_in_prefect=False, state_type__in=FINISHED)
        .order_by("-expected_start_time")
        .values("pk")[:SUCCESS_RATE_RUNS]
    )
    counted = FlowRun.objects.filter(pk__in=last_finished, **condition).order_by()
    return Subquery(counted.annotate(count=Func("pk", function="COUNT")).values("count"), output_field=IntegerField())


def last_run_cell(deployment: Deployment) -> str:
    pk = getattr(deployment, "last_run_pk", None)
    if pk is None:
        return "—"
    return format_html(
        '<a href="{}">{}</a> {} {}',
        reverse("admin:workflows_flowrun_change", args=[pk]),
        deployment.last_run_name,
        state_badge(deployment.last_run_state_type, deployment.last_run_state_name),
        time_cell(deployment.last_run_at),
    )


def next_run_cell(deployment: Deployment) -> str:
    return time_cell(getattr(deployment, "next_run_at", None))


def success_rate_cell(deployment: Deployment) -> str:
    finished = getattr(deployment, "finished_recently", None) or 0
    if not finished:
        return "—"
    completed = deployment.completed_recently or 0
    return format_html(
        '<span title="{} of the last {} finished runs completed">{}%</span>',
        completed,
        finished,
        round(100 * completed / finished),
    )


def runs_link(deployment: Deployment) -> str:
    runs = f"{reverse('admin:workflows_flowrun_changelist')}?deployment__id__exact={deployment.pk}"
    return format_html('<a href="{}">runs</a> · <a href="{}&amp;view=upcoming">upcoming</a>', runs, runs)


def parameters_table(deployment: Deployment) -> str:
    """The parameter schema as people read it: name, type, the deployment's default, description."""
    schema = deployment.parameter_openapi_schema or {}
    properties = schema.get("properties") or {}
    if not properties:
        return "This deployment takes no parameters."
    required = set(schema.get("required") or [])
    defaults = deployment.default_parameters or {}
    rows = format_html_join("", "<tr><td><code>{}</code>{}</td><td>{}</td><td><code>{}</code></td><td>{}</td></tr>", (
        (
            name,
            " *" if name in required else "",
            _type_label(spec),
            json.dumps(defaults.get(name, spec.get("default"))) if name in defaults or "default" in spec else "",
            spec.get("description", ""),
        )
        for name, spec in properties.items()
    ))  # fmt: skip
    return format_html(
        '<table class="run-params"><tr><th>name</th><th>type</th><th>default</th><th>description</th></tr>{}</table>',
        rows,
    )


def _type_label(spec: dict[str, Any]) -> str:
    if spec.get("enum"):
        return "one of " + ", ".join(map(str, spec["enum"]))
    return str(spec.get("type") or spec.get("format") or "any")
