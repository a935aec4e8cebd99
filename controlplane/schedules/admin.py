"""django-celery-beat's schedule admin, with every change going through `controlplane.schedules.services` (and so
into the audit log): edits, deletes, enable/disable/toggle and "run now"."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from django_celery_beat.admin import PeriodicTaskAdmin
from django_celery_beat.models import PeriodicTask

from controlplane.audit.actor import Actor
from controlplane.schedules import services


class AuditedPeriodicTaskAdmin(PeriodicTaskAdmin):
    actions = ("enable_tasks", "disable_tasks", "toggle_tasks", "run_tasks")

    def save_model(self, request: HttpRequest, obj: PeriodicTask, form: forms.ModelForm, change: bool) -> None:
        before = services.snapshot_of_stored(obj.pk) if change else None
        services.save_periodic_task(Actor.from_request(request), obj, before)

    def delete_model(self, request: HttpRequest, obj: PeriodicTask) -> None:
        services.delete_periodic_task(Actor.from_request(request), obj)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[PeriodicTask]) -> None:
        actor = Actor.from_request(request)
        for task in queryset:
            services.delete_periodic_task(actor, task)

    @admin.action(description="Enable selected tasks")
    def enable_tasks(self, request: HttpRequest, queryset: QuerySet[PeriodicTask]) -> None:
        self._switch(request, queryset, True, "enabled")

    @admin.action(description="Disable selected tasks")
    def disable_tasks(self, request: HttpRequest, queryset: QuerySet[PeriodicTask]) -> None:
        self._switch(request, queryset, False, "disabled")

    @admin.action(description="Toggle activity of selected tasks")
    def toggle_tasks(self, request: HttpRequest, queryset: QuerySet[PeriodicTask]) -> None:
        self._switch(request, queryset, None, "toggled")

    @admin.action(description="Run selected tasks")
    def run_tasks(self, request: HttpRequest, queryset: QuerySet[PeriodicTask]) -> Any:
        services.record_run_now(Actor.from_request(request), queryset)
        return super().run_tasks(request, queryset)

    def _switch(self, request: HttpRequest, queryset: QuerySet[PeriodicTask], enabled: bool | None, verb: str) -> None:
        changed = services.set_enabled(Actor.from_request(request), queryset, enabled)
        self.message_user(request, f"{changed} task{'s' if changed != 1 else ''} {verb}.")


if admin.site.is_registered(PeriodicTask):
    admin.site.unregister(PeriodicTask)
admin.site.register(PeriodicTask, AuditedPeriodicTaskAdmin)
