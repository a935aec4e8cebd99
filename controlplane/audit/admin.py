"""The audit log in the admin: read-only, filtered, exported (CSV/JSON) and verified — through
`controlplane.audit.services`, which checks the permissions and records each export and verification."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import path, reverse

from controlplane.admin_mixins import ReadOnlyAdminMixin
from controlplane.audit import export as audit_export
from controlplane.audit.actor import Actor
from controlplane.audit.models import AuditEvent
from controlplane.audit.services import EXPORT, VERIFY, export_audit_log, verify_audit_log
from controlplane.exceptions import ServiceError


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Read-only for auditors and admins. Export (CSV, JSON) of the filtered list or of the selected events."""

    list_display = [
        "occurred_at",
        "actor_label",
        "action",
        "outcome",
        "target_type",
        "target_id",
        "ip_address",
        "short_message",
    ]
    list_filter = ["outcome", "action", "actor_label", "occurred_at"]
    search_fields = ["actor_label", "action", "target_type", "target_id", "message"]
    search_help_text = "Actor, action, target or message."
    ordering = ["-id"]
    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER
    list_per_page = 100
    actions = ["export_selected_csv", "export_selected_json"]
    change_list_template = "admin/controlplane/auditevent/change_list.html"

    def has_export_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(EXPORT)

    def has_verify_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(VERIFY)

    @admin.display(description="message")
    def short_message(self, event: AuditEvent) -> str:
        return event.message[:100]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return [field.name for field in AuditEvent._meta.fields]

    def get_urls(self) -> list[Any]:
        own = [
            path(
                "export/<str:fmt>/", self.admin_site.admin_view(self.export_view), name="controlplane_auditevent_export"
            ),
            path("verify/", self.admin_site.admin_view(self.verify_view), name="controlplane_auditevent_verify"),
        ]
        return own + super().get_urls()

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        extra = {
            "can_export": self.has_export_permission(request),
            "can_verify": self.has_verify_permission(request),
            "filters_query": request.GET.urlencode(),
        }
        return super().changelist_view(request, {**extra, **(extra_context or {})})

    def export_view(self, request: HttpRequest, fmt: str) -> HttpResponse:
        """Export what the changelist shows with the same filters and search (query string passed through)."""
        if fmt not in audit_export.FORMATS:
            raise Http404
        queryset = (
            self.get_changelist_instance(request).get_queryset(request)
            if self.has_view_permission(request)
            else AuditEvent.objects.none()
        )
        return self._export(request, queryset, fmt, request.GET.urlencode())

    @admin.action(description="Export selected events as CSV", permissions=["export"])
    def export_selected_csv(self, request: HttpRequest, queryset: QuerySet[AuditEvent]) -> HttpResponse:
        return self._export(request, queryset, "csv", "selected")

    @admin.action(description="Export selected events as JSON", permissions=["export"])
    def export_selected_json(self, request: HttpRequest, queryset: QuerySet[AuditEvent]) -> HttpResponse:
        return self._export(request, queryset, "json", "selected")

    def _export(self, request: HttpRequest, queryset: QuerySet[AuditEvent], fmt: str, scope: str) -> HttpResponse:
        try:
            events = export_audit_log(Actor.from_request(request), queryset, fmt, scope)
        except ServiceError as exc:
            raise PermissionDenied(exc.message) from exc
        return audit_export.response(events, fmt)

    def verify_view(self, request: HttpRequest) -> HttpResponse:
        try:
            result = verify_audit_log(Actor.from_request(request))
        except ServiceError as exc:
            raise PermissionDenied(exc.message) from exc
        if result.ok:
            messages.success(request, f"Audit log OK: {result.checked} events, head hash {result.head_hash}.")
        else:
            messages.error(request, f"Audit log verification FAILED: {result.problem}")
        return HttpResponseRedirect(reverse("admin:controlplane_auditevent_changelist"))
