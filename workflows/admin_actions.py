"""Operator actions in the admin: "Trigger" a deployment (a form generated from its parameter schema), "Cancel" and
"Retry" runs, one or many. Every action translates the request and calls `workflows.services`, which checks the
permission, talks to Prefect, writes the mirror and audits; results come back as one admin message per item.

Mixed into `workflows.admin.DeploymentAdmin` and `FlowRunAdmin`. Actions are offered only to users whose role
allows them; an action posted anyway by someone else still goes to the service, which refuses and audits it.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.admin.options import IS_POPUP_VAR
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html

from controlplane.audit.actor import Actor
from controlplane.exceptions import InvalidInput, PermissionDeniedError, ServiceError
from workflows import bulk, services
from workflows.models import Deployment, FlowRun
from workflows.parameters import NON_FIELD
from workflows.run_page import log_line

# --- Per-item results ---------------------------------------------------------------------------------------------


def report_results(request: HttpRequest, results: list[services.ItemResult], done: str) -> None:
    """One admin message per item: success with a link to the run, or the reason it failed."""
    for result in results:
        if result.ok and result.flow_run is not None:
            url = reverse("admin:workflows_flowrun_change", args=[result.flow_run.pk])
            messages.success(request, format_html('{}: <a href="{}">{}</a>', done, url, result.flow_run.name))
        else:
            messages.error(request, f"{result.target}: {result.error}")


class OperationActionsMixin:
    """Adds actions guarded by a permission; a refused user posting one anyway is refused (and audited) by the
    service rather than silently ignored by the admin."""

    operation_actions: dict[str, str] = {}

    def get_actions(self, request: HttpRequest) -> dict[str, Any]:
        actions = super().get_actions(request)  # type: ignore[misc]
        if self.actions is None or IS_POPUP_VAR in request.GET:
            return actions
        for name, permission in self.operation_actions.items():
            if request.user.has_perm(permission):
                actions[name] = self.get_action(name)  # type: ignore[attr-defined]
        return actions

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        action = request.POST.get("action", "") if request.method == "POST" else ""
        if action in self.operation_actions and action not in self.get_actions(request):
            selected = request.POST.getlist(helpers.ACTION_CHECKBOX_NAME)
            queryset = self.get_queryset(request).filter(pk__in=selected)  # type: ignore[attr-defined]
            getattr(self, action)(request, queryset)
            return HttpResponseRedirect(request.get_full_path())
        return super().changelist_view(request, extra_context)  # type: ignore[misc]


# --- Runs: cancel, retry ------------------------------------------------------------------------------------------


class RunOperationsAdminMixin(OperationActionsMixin):
    """Cancel / Retry actions (one run or many) and a live log page per run, proxied from Prefect."""

    operation_actions = {"cancel_selected_runs": services.CANCEL, "retry_selected_runs": services.RETRY}
    log_page_size = 200

    def get_urls(self) -> list[Any]:
        logs = path(
            "<path:object_id>/logs/",
            self.admin_site.admin_view(self.logs_view),  # type: ignore[attr-defined]
            name="workflows_flowrun_logs",
        )
        return [logs, *super().get_urls()]  # type: ignore[misc]

    def logs_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """One page of the run's logs after `?after=<timestamp>`; "newer" continues from the last line shown."""
        run = get_object_or_404(FlowRun.objects.select_related("flow", "deployment__flow"), pk=object_id)
        if not self.has_view_permission(request, run):  # type: ignore[attr-defined]
            raise PermissionDenied
        after = request.GET.get("after") or None
        logs: list[dict[str, Any]] = []
        try:
            logs = services.read_run_logs(Actor.from_request(request), run, after=after, limit=self.log_page_size)
        except PermissionDeniedError as exc:
            raise PermissionDenied(exc.message) from exc
        except ServiceError as exc:
            messages.error(request, exc.message)
        return TemplateResponse(
            request,
            "admin/workflows/flowrun/logs.html",
            {
                **self.admin_site.each_context(request),  # type: ignore[attr-defined]
                "title": f"Logs of {run.name}",
                "subtitle": None,
                "opts": FlowRun._meta,
                "run": run,
                "logs": [log_line(log) for log in logs],
                "after": after,
                "newer_after": logs[-1]["timestamp"] if logs else after,
            },
        )

    @admin.action(description="Cancel selected runs")
    def cancel_selected_runs(self, request: HttpRequest, queryset: QuerySet[FlowRun]) -> None:
        runs = list(queryset.select_related("deployment__flow"))
        report_results(request, bulk.bulk_cancel(Actor.from_request(request), runs), "Cancellation requested")

    @admin.action(description="Retry selected runs")
    def retry_selected_runs(self, request: HttpRequest, queryset: QuerySet[FlowRun]) -> None:
        runs = list(queryset.select_related("deployment__flow"))
        report_results(request, bulk.bulk_retry(Actor.from_request(request), runs), "Retry scheduled")


# --- Deployments: trigger -----------------------------------------------------------------------------------------


class TriggerForm(forms.Form):
    """Fields generated from the deployment's parameter schema.

    Values are read leniently (JSON where it parses, else the raw text) and checked by the service against the
    schema, so there is one validation, it is audited, and its per-field messages land on these fields.
    """

    idempotency_key = forms.CharField(widget=forms.HiddenInput)

    def __init__(self, *args: Any, deployment: Deployment, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.schema = deployment.parameter_openapi_schema or {}
        self.fields["idempotency_key"].initial = f"admin-{uuid.uuid4()}"
        required = set(self.schema.get("required", []))
        defaults = deployment.default_parameters or {}
        for name, spec in (self.schema.get("properties") or {}).items():
            spec = _resolved(spec, self.schema)
            # The deployment's own defaults come first (what a scheduled run would get), then the function's.
            default = defaults[name] if name in defaults else spec.get("default")
            self.fields[_field_name(name)] = _form_field(name, spec, name in required, default)

    def parameters(self) -> dict[str, Any]:
        values: dict[str, Any] = {}
        for name, spec in (self.schema.get("properties") or {}).items():
            raw = self.cleaned_data.get(_field_name(name))
            if isinstance(raw, bool):
                values[name] = raw
            elif raw not in (None, ""):
                values[name] = raw if _resolved(spec, self.schema).get("type") == "string" else _json_or_text(raw)
        return values

    def add_parameter_errors(self, field_errors: dict[str, list[str]]) -> None:
        for name, messages_ in field_errors.items():
            field = _field_name(name)
            for message in messages_:
                self.add_error(field if field in self.fields and name != NON_FIELD else None, message)


def _field_name(parameter: str) -> str:
    return f"param_{parameter}"


def _resolved(spec: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    """A parameter's spec with a referenced definition merged in (pydantic writes enums as `$ref`, often inside
    `allOf`), so an enum parameter becomes a select."""
    reference = spec.get("$ref") or next((part.get("$ref") for part in spec.get("allOf") or [] if "$ref" in part), None)
    if not reference or not reference.startswith("#/"):
        return spec
    target: Any = schema
    for key in reference[2:].split("/"):
        target = target.get(key, {}) if isinstance(target, dict) else {}
    return {**target, **{k: v for k, v in spec.items() if k not in ("$ref", "allOf")}}


def _form_field(name: str, spec: dict[str, Any], required: bool, default: Any) -> forms.Field:
    label = spec.get("title") or name
    kind = spec.get("type")
    type_note = f"({_type_label(spec)}{', required' if required else ''})"
    help_text = " ".join(filter(None, [spec.get("description", ""), type_note]))
    if kind == "boolean":
        return forms.BooleanField(label=label, required=False, initial=bool(default), help_text=help_text)
    if spec.get("enum") and kind in ("string", None):
        choices = [("", "—")] + [(value, value) for value in spec["enum"]]
        return forms.ChoiceField(label=label, required=False, choices=choices, initial=default, help_text=help_text)
    initial = default if kind == "string" or default is None else json.dumps(default)
    widget = forms.Textarea(attrs={"rows": 3}) if kind in ("array", "object") or kind is None else None
    return forms.CharField(label=label, required=False, initial=initial, help_text=help_text, widget=widget)


def _type_label(spec: dict[str, Any]) -> str:
    if "type" in spec:
        return str(spec["type"])
    return "JSON"


def _json_or_text(raw: str) -> Any:
    try:
        return json.loads(raw)
    except ValueError:
        return raw


class TriggerDeploymentAdminMixin(OperationActionsMixin):
    """A "Trigger" page per deployment (linked from its change page) and a bulk "trigger with defaults" action."""

    operation_actions = {"trigger_selected_deployments": services.TRIGGER}

    def get_urls(self) -> list[Any]:
        trigger = path(
            "<path:object_id>/trigger/",
            self.admin_site.admin_view(self.trigger_view),  # type: ignore[attr-defined]
            name="workflows_deployment_trigger",
        )
        return [trigger, *super().get_urls()]  # type: ignore[misc]

    def trigger_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        deployment = get_object_or_404(Deployment.objects.select_related("flow", "work_pool"), pk=object_id)
        if not self.has_view_permission(request, deployment):  # type: ignore[attr-defined]
            raise PermissionDenied
        may_trigger = request.user.has_perm(services.TRIGGER)
        if request.method != "POST" and not may_trigger:
            raise PermissionDenied
        form = TriggerForm(request.POST or None, deployment=deployment)
        if request.method == "POST" and form.is_valid():
            try:
                run = services.trigger_deployment(
                    Actor.from_request(request), deployment, form.parameters(), form.cleaned_data["idempotency_key"]
                )
            except PermissionDeniedError as exc:
                raise PermissionDenied(exc.message) from exc
            except InvalidInput as exc:
                form.add_parameter_errors(exc.field_errors)
                messages.error(request, exc.message)
            except ServiceError as exc:
                messages.error(request, exc.message)
            else:
                report_results(request, [services.ItemResult(deployment, True, run)], "Triggered")
                return HttpResponseRedirect(reverse("admin:workflows_flowrun_change", args=[run.pk]))
        return TemplateResponse(
            request,
            "admin/workflows/deployment/trigger.html",
            {
                **self.admin_site.each_context(request),  # type: ignore[attr-defined]
                "title": f"Trigger {deployment.full_name}",
                "subtitle": None,
                "opts": Deployment._meta,
                "deployment": deployment,
                "form": form,
                "has_parameters": bool((deployment.parameter_openapi_schema or {}).get("properties")),
            },
        )

    @admin.action(description="Trigger selected deployments with their default parameters")
    def trigger_selected_deployments(self, request: HttpRequest, queryset: QuerySet[Deployment]) -> None:
        items = [(deployment, {}) for deployment in queryset.select_related("flow", "work_pool")]
        report_results(request, bulk.bulk_trigger(Actor.from_request(request), items), "Triggered")
