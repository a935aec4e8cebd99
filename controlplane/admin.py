"""Admin for the control plane: the audit log (read-only, filters, export, verify), the configuration (admins),
API tokens (own tokens for everyone, all tokens for admins) and users' roles (audited)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join

from controlplane import audit_export
from controlplane.audit import Actor, record_audit_event, verify_chain
from controlplane.environment import environment_settings
from controlplane.exceptions import ServiceError
from controlplane.models import ApiToken, AuditEvent, OrchestrationConfig
from controlplane.services import (
    CONFIG_FIELDS,
    MANAGE_ALL_TOKENS,
    create_api_token,
    is_token_active,
    revoke_api_token,
    update_config,
)

# --- Audit log ----------------------------------------------------------------------------------------------------


class ReadOnlyAdminMixin:
    """Nobody adds, changes or deletes these rows through the admin (the audit log, the Prefect mirror)."""

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


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
        return request.user.has_perm("controlplane.export_auditevent")

    def has_verify_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("controlplane.verify_auditevent")

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
        if not self.has_view_permission(request) or not self.has_export_permission(request):
            _audit_refusal(request, "audit_log.export", "You may not export the audit log.")
            raise PermissionDenied
        if fmt not in audit_export.FORMATS:
            raise Http404
        changelist = self.get_changelist_instance(request)
        return self._export(request, changelist.get_queryset(request), fmt, request.GET.urlencode())

    @admin.action(description="Export selected events as CSV", permissions=["export"])
    def export_selected_csv(self, request: HttpRequest, queryset: QuerySet[AuditEvent]) -> HttpResponse:
        return self._export(request, queryset, "csv", "selected")

    @admin.action(description="Export selected events as JSON", permissions=["export"])
    def export_selected_json(self, request: HttpRequest, queryset: QuerySet[AuditEvent]) -> HttpResponse:
        return self._export(request, queryset, "json", "selected")

    def _export(self, request: HttpRequest, queryset: QuerySet[AuditEvent], fmt: str, scope: str) -> HttpResponse:
        queryset = queryset.order_by("id")
        with transaction.atomic():
            record_audit_event(
                Actor.from_request(request),
                "audit_log.export",
                target_type="audit_log",
                target_id=fmt,
                after={"format": fmt, "events": queryset.count(), "scope": scope},
            )
        return audit_export.response(queryset, fmt)

    def verify_view(self, request: HttpRequest) -> HttpResponse:
        if not self.has_verify_permission(request):
            _audit_refusal(request, "audit_log.verify", "You may not verify the audit log.")
            raise PermissionDenied
        result = verify_chain()
        outcome = "success" if result.ok else "error"
        with transaction.atomic():
            record_audit_event(
                Actor.from_request(request),
                "audit_log.verify",
                target_type="audit_log",
                target_id="chain",
                after={"checked": result.checked, "head_hash": result.head_hash, "ok": result.ok},
                outcome=outcome,
                message=result.problem,
            )
        if result.ok:
            messages.success(request, f"Audit log OK: {result.checked} events, head hash {result.head_hash}.")
        else:
            messages.error(request, f"Audit log verification FAILED: {result.problem}")
        return HttpResponseRedirect(reverse("admin:controlplane_auditevent_changelist"))


def _audit_refusal(request: HttpRequest, action: str, message: str) -> None:
    with transaction.atomic():
        record_audit_event(
            Actor.from_request(request),
            action,
            target_type="audit_log",
            target_id="",
            outcome="denied",
            message=message,
        )


# --- Configuration ------------------------------------------------------------------------------------------------


@admin.register(OrchestrationConfig)
class OrchestrationConfigAdmin(admin.ModelAdmin):
    """The single configuration row. Changes go through `update_config` (audited, cap pushed to Prefect)."""

    fields = [*CONFIG_FIELDS, "updated_at", "environment"]
    readonly_fields = ["updated_at", "environment"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        config = OrchestrationConfig.load()
        return HttpResponseRedirect(reverse("admin:controlplane_orchestrationconfig_change", args=[config.pk]))

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


# --- API tokens ---------------------------------------------------------------------------------------------------


class ApiTokenCreateForm(forms.ModelForm):
    class Meta:
        model = ApiToken
        fields = ["user", "name", "expires_at"]

    def __init__(self, *args: Any, request: HttpRequest | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.request = request
        if request is not None and not request.user.has_perm(MANAGE_ALL_TOKENS):
            self.fields["user"].queryset = get_user_model().objects.filter(pk=request.user.pk)
            self.fields["user"].initial = request.user.pk
        self.fields["expires_at"].help_text = "Optional. After this time the token stops working."

    def clean_expires_at(self) -> Any:
        expires_at = self.cleaned_data.get("expires_at")
        if expires_at is not None and expires_at <= timezone.now():
            raise forms.ValidationError("Expiry must be in the future.")
        return expires_at


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    """Everyone with admin access manages their own tokens; admins (manage_all_tokens) everyone's.

    The secret is shown once, on the page right after creation, and never stored (only its SHA-256).
    Tokens are not edited or deleted: they are revoked, so the audit log can still name them.
    """

    list_display = ["name", "user", "prefix", "active", "created_at", "expires_at", "last_used_at", "revoked_at"]
    list_filter = ["revoked_at"]
    search_fields = ["name", "user__username", "prefix"]
    list_select_related = ["user"]
    actions = ["revoke_selected_tokens"]
    readonly_fields = ["user", "name", "prefix", "created_at", "expires_at", "last_used_at", "revoked_at"]

    @admin.display(boolean=True)
    def active(self, token: ApiToken) -> bool:
        return is_token_active(token)

    def get_queryset(self, request: HttpRequest) -> QuerySet[ApiToken]:
        queryset = super().get_queryset(request)
        if request.user.has_perm(MANAGE_ALL_TOKENS):
            return queryset
        return queryset.filter(user=request.user)

    def has_module_permission(self, request: HttpRequest) -> bool:
        return request.user.is_active and request.user.is_staff

    def has_view_permission(self, request: HttpRequest, obj: ApiToken | None = None) -> bool:
        return self.has_module_permission(request) and (obj is None or self._owns_or_manages(request, obj))

    def has_add_permission(self, request: HttpRequest) -> bool:
        return self.has_module_permission(request)

    def has_change_permission(self, request: HttpRequest, obj: ApiToken | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: ApiToken | None = None) -> bool:
        return False

    def _owns_or_manages(self, request: HttpRequest, token: ApiToken) -> bool:
        return token.user_id == request.user.pk or request.user.has_perm(MANAGE_ALL_TOKENS)

    def get_form(self, request: HttpRequest, obj: ApiToken | None = None, change: bool = False, **kwargs: Any) -> Any:
        if obj is not None:
            return super().get_form(request, obj, change=change, **kwargs)

        class RequestBoundForm(ApiTokenCreateForm):
            def __init__(self, *args: Any, **form_kwargs: Any) -> None:
                super().__init__(*args, request=request, **form_kwargs)

        return RequestBoundForm

    def get_readonly_fields(self, request: HttpRequest, obj: ApiToken | None = None) -> list[str]:
        return self.readonly_fields if obj is not None else []

    def get_fields(self, request: HttpRequest, obj: ApiToken | None = None) -> list[str]:
        return self.readonly_fields if obj is not None else ["user", "name", "expires_at"]

    def save_model(self, request: HttpRequest, obj: ApiToken, form: forms.ModelForm, change: bool) -> None:
        token, secret = create_api_token(
            Actor.from_request(request),
            form.cleaned_data["user"],
            form.cleaned_data["name"],
            form.cleaned_data["expires_at"],
        )
        obj.pk = token.pk
        obj.__dict__.update({f.attname: getattr(token, f.attname) for f in ApiToken._meta.concrete_fields})
        request._created_token_secret = secret  # type: ignore[attr-defined]

    def response_add(self, request: HttpRequest, obj: ApiToken, post_url_continue: str | None = None) -> HttpResponse:
        """Show the secret on this response only: not in a message (which may sit in a cookie), not stored."""
        return TemplateResponse(
            request,
            "admin/controlplane/apitoken/created.html",
            {
                **self.admin_site.each_context(request),
                "title": "API token created",
                "subtitle": None,
                "opts": ApiToken._meta,
                "token": obj,
                "secret": request._created_token_secret,  # type: ignore[attr-defined]
            },
        )

    @admin.action(description="Revoke selected tokens")
    def revoke_selected_tokens(self, request: HttpRequest, queryset: QuerySet[ApiToken]) -> None:
        actor = Actor.from_request(request)
        for token in queryset.select_related("user"):
            try:
                revoke_api_token(actor, token)
            except ServiceError as exc:
                messages.error(request, f"{token}: {exc.message}")
            else:
                messages.success(request, f"Revoked {token}.")


# --- Users and their roles ----------------------------------------------------------------------------------------

User = get_user_model()


class AuditedUserAdmin(UserAdmin):
    """Django's user admin; a change of a user's roles (groups) or admin flags is also written to the audit log."""

    _AUDITED = ("is_active", "is_staff", "is_superuser")

    def save_model(self, request: HttpRequest, obj: Any, form: forms.ModelForm, change: bool) -> None:
        request._user_before = _user_access(obj.pk) if change else None  # type: ignore[attr-defined]
        super().save_model(request, obj, form, change)

    def save_related(self, request: HttpRequest, form: forms.ModelForm, formsets: Any, change: bool) -> None:
        super().save_related(request, form, formsets, change)
        before = getattr(request, "_user_before", None)
        after = _user_access(form.instance.pk)
        if before != after:
            record_audit_event(
                Actor.from_request(request),
                "user.access_changed" if change else "user.created",
                target_type="user",
                target_id=form.instance.pk,
                before=before,
                after=after,
            )


def _user_access(user_pk: int) -> dict[str, Any]:
    user = User.objects.prefetch_related("groups").get(pk=user_pk)
    return {
        "username": user.get_username(),
        "roles": sorted(group.name for group in user.groups.all()),
        **{flag: getattr(user, flag) for flag in AuditedUserAdmin._AUDITED},
    }


if admin.site.is_registered(User):
    admin.site.unregister(User)
admin.site.register(User, AuditedUserAdmin)
