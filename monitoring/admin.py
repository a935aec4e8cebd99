"""Admin pages of monitoring. Alerts are acknowledged and resolved through actions that call `monitoring.services`;
thresholds, channels and per-deployment rules save through `monitoring.configuration` (audited, in a durable
transaction: hence `SavedThroughServiceMixin`); samples, component health and deliveries are read-only. A channel's
URL is shown only to those who may change it; its secret is never shown."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest

from controlplane.admin_display import badge
from controlplane.admin_mixins import ReadOnlyAdminMixin, SavedThroughServiceMixin
from controlplane.audit.actor import Actor
from controlplane.exceptions import PermissionDeniedError, ServiceError
from monitoring import configuration, notify, services
from monitoring.models import (
    Alert,
    ComponentHealth,
    Delivery,
    DeploymentAlertRule,
    NotificationChannel,
    SystemSample,
    Threshold,
)


def _run_on_each(request: HttpRequest, rows: QuerySet[Any], service: Callable[..., Any], done: str) -> None:
    """Call `service(actor, row)` for each selected row; one message per row."""
    actor = Actor.from_request(request)
    for row in rows:
        try:
            service(actor, row)
        except ServiceError as exc:
            messages.error(request, f"{row}: {exc.message}")
        else:
            messages.success(request, f"{row}: {done}")


def _saved_through(request: HttpRequest, obj: Any, save: Callable[[], Any]) -> None:
    """Save through a service and copy the saved row onto the admin's object (so the admin's log entry and redirect
    work); a refusal the form could not foresee becomes a 403."""
    try:
        saved = save()
    except PermissionDeniedError as exc:
        raise PermissionDenied(exc.message) from exc
    except ServiceError as exc:
        messages.error(request, exc.message)
        raise PermissionDenied(exc.message) from exc
    obj.pk = saved.pk
    obj.__dict__.update({f.attname: getattr(saved, f.attname) for f in type(saved)._meta.concrete_fields})


@admin.register(SystemSample)
class SystemSampleAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["taken_at", "host", "cpu_percent", "memory_percent", "swap_percent", "load1", "disk_percent"]
    list_filter = ["host"]
    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER


@admin.register(ComponentHealth)
class ComponentHealthAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["component", "status_badge", "latency_ms", "since", "checked_at", "message"]

    @admin.display(description="status", ordering="status")
    def status_badge(self, row: ComponentHealth) -> str:
        return badge(row.status)


@admin.register(Alert)
class AlertAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = [
        "last_seen",
        "severity_badge",
        "status_badge",
        "subject",
        "rule",
        "last_value",
        "peak_value",
        "message",
    ]
    list_filter = ["status", "severity", "rule"]
    search_fields = ["subject", "message"]
    list_select_related = ["acknowledged_by"]
    raw_id_fields = ["flow_run", "threshold"]
    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER
    actions = ["acknowledge", "resolve"]

    @admin.display(description="severity", ordering="severity")
    def severity_badge(self, alert: Alert) -> str:
        return badge(alert.severity)

    @admin.display(description="status", ordering="status")
    def status_badge(self, alert: Alert) -> str:
        return badge(alert.status)

    def get_actions(self, request: HttpRequest) -> dict[str, Any]:
        actions = super().get_actions(request)
        for name, permission in (("acknowledge", services.ACKNOWLEDGE), ("resolve", services.RESOLVE)):
            if not request.user.has_perm(permission):
                actions.pop(name, None)
        return actions

    @admin.action(description="Acknowledge selected alerts")
    def acknowledge(self, request: HttpRequest, queryset: QuerySet[Alert]) -> None:
        _run_on_each(request, queryset, services.acknowledge_alert, "acknowledged")

    @admin.action(description="Resolve selected alerts")
    def resolve(self, request: HttpRequest, queryset: QuerySet[Alert]) -> None:
        _run_on_each(request, queryset, services.resolve_alert, "resolved")


class ThresholdForm(forms.ModelForm):
    class Meta:
        model = Threshold
        fields = list(configuration.THRESHOLD_FIELDS)

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        candidate = Threshold(**{name: cleaned.get(name) for name in configuration.THRESHOLD_FIELDS})
        for field, errors in configuration.threshold_errors(candidate).items():
            for error in errors:
                self.add_error(field if field in self.fields else None, error)
        return cleaned


@admin.register(Threshold)
class ThresholdAdmin(SavedThroughServiceMixin, admin.ModelAdmin):
    form = ThresholdForm
    list_display = ["name", "metric", "scope", "scope_value", "comparison", "warning_level", "critical_level"]
    list_filter = ["metric", "enabled"]

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # switch a threshold off instead: its alerts keep pointing at it

    def save_model(self, request: HttpRequest, obj: Threshold, form: forms.ModelForm, change: bool) -> None:
        actor = Actor.from_request(request)
        data = form.cleaned_data
        if change:
            changes = {name: data[name] for name in form.changed_data if name in configuration.THRESHOLD_FIELDS}
            current = Threshold.objects.get(pk=obj.pk)
            _saved_through(request, obj, lambda: configuration.update_threshold(actor, current, changes))
        else:
            values = {name: data[name] for name in configuration.THRESHOLD_FIELDS if name in data}
            _saved_through(request, obj, lambda: configuration.create_threshold(actor, values))


class ChannelForm(forms.ModelForm):
    secret = forms.CharField(
        required=False,
        widget=forms.PasswordInput(render_value=False),
        help_text="HMAC key of a generic webhook's X-Signature. Never shown; leave blank to keep the current one.",
    )

    class Meta:
        model = NotificationChannel
        fields = list(configuration.CHANNEL_FIELDS)

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        candidate = NotificationChannel(kind=cleaned.get("kind") or "", target=cleaned.get("target") or "")
        for field, errors in configuration.channel_errors(candidate).items():
            for error in errors:
                self.add_error(field, error)
        return cleaned


@admin.register(NotificationChannel)
class NotificationChannelAdmin(SavedThroughServiceMixin, admin.ModelAdmin):
    form = ChannelForm
    list_display = ["name", "kind", "shown_target", "min_severity", "deployment_filter", "tag_filter", "enabled"]
    actions = ["send_test"]

    @admin.display(description="target")
    def shown_target(self, channel: NotificationChannel) -> str:
        return notify.masked_target(channel)

    def get_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        if obj is not None and not self.has_change_permission(request, obj):
            hidden = {"target", "secret"}
            return ["shown_target", *(f for f in configuration.CHANNEL_FIELDS if f not in hidden)]
        return list(configuration.CHANNEL_FIELDS)

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return ["shown_target"] if obj is not None and not self.has_change_permission(request, obj) else []

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # disable a channel instead: its deliveries stay readable

    def get_actions(self, request: HttpRequest) -> dict[str, Any]:
        actions = super().get_actions(request)
        if not request.user.has_perm("monitoring.change_notificationchannel"):
            actions.pop("send_test", None)
        return actions

    @admin.action(description="Send a test notification")
    def send_test(self, request: HttpRequest, queryset: QuerySet[NotificationChannel]) -> None:
        _run_on_each(request, queryset, configuration.send_test_notification, "test notification sent")

    def save_model(self, request: HttpRequest, obj: NotificationChannel, form: forms.ModelForm, change: bool) -> None:
        actor = Actor.from_request(request)
        data = form.cleaned_data
        names = [n for n in configuration.CHANNEL_FIELDS if n in (form.changed_data if change else data)]
        values = {name: data[name] for name in names if not (name == "secret" and not data[name])}
        if change:
            current = NotificationChannel.objects.get(pk=obj.pk)
            _saved_through(request, obj, lambda: configuration.update_channel(actor, current, values))
        else:
            _saved_through(request, obj, lambda: configuration.create_channel(actor, values))


@admin.register(DeploymentAlertRule)
class DeploymentAlertRuleAdmin(SavedThroughServiceMixin, admin.ModelAdmin):
    list_display = ["deployment", "alert_on_failure"]
    list_select_related = ["deployment__flow"]
    raw_id_fields = ["deployment"]

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def save_model(self, request: HttpRequest, obj: DeploymentAlertRule, form: forms.ModelForm, change: bool) -> None:
        actor = Actor.from_request(request)
        deployment, alert_on_failure = form.cleaned_data["deployment"], form.cleaned_data["alert_on_failure"]
        _saved_through(
            request, obj, lambda: configuration.set_deployment_alert_rule(actor, deployment, alert_on_failure)
        )


@admin.register(Delivery)
class DeliveryAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["created_at", "channel", "alert", "status_badge", "attempts", "response_code", "sent_at", "error"]
    list_filter = ["status", "channel"]
    list_select_related = ["channel", "alert"]
    raw_id_fields = ["alert"]
    show_full_result_count = False

    @admin.display(description="status", ordering="status")
    def status_badge(self, delivery: Delivery) -> str:
        return badge(delivery.status)
