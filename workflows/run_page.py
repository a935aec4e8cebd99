"""The run page: facts, parameters, result, state timeline, subflow links, the same run in Prefect's UI, a live log
tail (a small JSON endpoint polled by `workflows/runs.js`) and Cancel / Retry buttons for those allowed.

Mixed into `workflows.admin.FlowRunAdmin`. The buttons post to `<run>/cancel/` and `<run>/retry/`, which call
`workflows.services` — the service checks the permission and audits, so a POST forged by a viewer is refused (403)
and recorded like any other refusal.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed, HttpResponseRedirect, JsonResponse
from django.shortcuts import get_object_or_404
from django.urls import NoReverseMatch, path, reverse

from controlplane.audit.actor import Actor
from controlplane.exceptions import PermissionDeniedError, ServiceError
from workflows import services
from workflows.models import TERMINAL_STATE_TYPES, FlowRun, StateType
from workflows.run_list import format_seconds, run_duration, state_badge, time_cell

RETRYABLE = frozenset({StateType.FAILED, StateType.CRASHED, StateType.CANCELLED})
LOG_TAIL_PAGE = 200


def level_name(level: Any) -> str:
    """Prefect stores Python's numeric levels (20, 40); people read INFO, ERROR."""
    return logging.getLevelName(level) if isinstance(level, int) else str(level or "")


def log_line(log: dict[str, Any]) -> dict[str, Any]:
    return {
        "time": log.get("timestamp", ""),
        "level": level_name(log.get("level")),
        "logger": log.get("name", ""),
        "message": log.get("message", ""),
    }


def prefect_ui_url(run: FlowRun) -> str | None:
    """The run in Prefect's own UI, served through the gateway (None where the gateway is not installed)."""
    try:
        return reverse("gateway:ui", kwargs={"path": f"runs/flow-run/{run.prefect_id}"})
    except NoReverseMatch:
        return None


def run_page_context(request: HttpRequest, run: FlowRun) -> dict[str, Any]:
    timeline = list(run.state_changes.order_by("at", "pk"))
    children = list(run.subflow_runs.select_related("deployment__flow").order_by("expected_start_time")[:50])
    return {
        "run_badge": state_badge(run.state_type, run.state_name, ghost=run.deleted_in_prefect),
        "run_times": [
            ("due", time_cell(run.expected_start_time)),
            ("started", time_cell(run.start_time)),
            ("ended", time_cell(run.end_time)),
            ("duration", run_duration(run)),
        ],
        "run_parameters": json.dumps(run.parameters, indent=2, sort_keys=True, ensure_ascii=False),
        "run_result": run.extra.get("result") if isinstance(run.extra, dict) else None,
        "timeline": [_timeline_entry(change, timeline[0].at if timeline else None) for change in timeline],
        "children": children,
        "prefect_url": prefect_ui_url(run),
        "logs_url": reverse("admin:workflows_flowrun_logs_json", args=[run.pk]),
        "may_cancel": request.user.has_perm(services.CANCEL) and not run.is_terminal and not run.deleted_in_prefect,
        "may_retry": request.user.has_perm(services.RETRY)
        and run.deployment_id is not None
        and run.state_type in RETRYABLE
        and not run.deleted_in_prefect,
    }


def _timeline_entry(change: Any, first_at: Any) -> dict[str, Any]:
    offset = (change.at - first_at).total_seconds() if first_at else 0.0
    return {
        "badge": state_badge(change.to_state_type, change.to_state_name),
        "at": change.at,
        "offset": f"+{format_seconds(offset)}" if offset else "",
        "message": change.message,
    }


class RunPageAdminMixin:
    """The run page's extra URLs and context."""

    def get_urls(self) -> list[Any]:
        view = self.admin_site.admin_view  # type: ignore[attr-defined]
        urls = [
            path("<path:object_id>/logs.json", view(self.logs_json_view), name="workflows_flowrun_logs_json"),
            path("<path:object_id>/cancel/", view(self.cancel_view), name="workflows_flowrun_cancel"),
            path("<path:object_id>/retry/", view(self.retry_view), name="workflows_flowrun_retry"),
        ]
        return [*urls, *super().get_urls()]  # type: ignore[misc]

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        run = FlowRun.objects.filter(pk=object_id).first() if object_id.isdigit() else None
        context = {**(extra_context or {}), **(run_page_context(request, run) if run else {})}
        return super().change_view(request, object_id, form_url, context)  # type: ignore[misc]

    def _run(self, request: HttpRequest, object_id: str) -> FlowRun:
        run = get_object_or_404(FlowRun.objects.select_related("flow", "deployment__flow"), pk=object_id)
        if not self.has_view_permission(request, run):  # type: ignore[attr-defined]
            raise PermissionDenied
        return run

    def logs_json_view(self, request: HttpRequest, object_id: str) -> JsonResponse:
        """Log lines after `?after=<timestamp>`, with the run's state so the page knows when to stop tailing."""
        run = self._run(request, object_id)
        after = request.GET.get("after") or None
        try:
            logs = services.read_run_logs(Actor.from_request(request), run, after=after, limit=LOG_TAIL_PAGE)
        except PermissionDeniedError as exc:
            raise PermissionDenied(exc.message) from exc
        except ServiceError as exc:
            return JsonResponse({"error": exc.message}, status=502)
        return JsonResponse(
            {
                "lines": [log_line(log) for log in logs],
                "after": logs[-1]["timestamp"] if logs else after,
                "state": run.state_name or run.state_type,
                "finished": run.state_type in TERMINAL_STATE_TYPES or run.deleted_in_prefect,
            }
        )

    def cancel_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        return self._operate(request, object_id, services.cancel_run, "Cancellation requested")

    def retry_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        return self._operate(request, object_id, services.retry_run, "Retry scheduled")

    def _operate(self, request: HttpRequest, object_id: str, operation: Any, done: str) -> HttpResponse:
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        run = self._run(request, object_id)
        try:
            updated = operation(Actor.from_request(request), run)
        except PermissionDeniedError as exc:
            raise PermissionDenied(exc.message) from exc
        except ServiceError as exc:
            messages.error(request, exc.message)
        else:
            messages.success(request, f"{done}: {updated.name} is {updated.state_name or updated.state_type}.")
        return HttpResponseRedirect(reverse("admin:workflows_flowrun_change", args=[run.pk]))
