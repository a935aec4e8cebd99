"""API tokens (own tokens for everyone, all tokens for admins) and users' roles in the admin; every change goes
through `controlplane.access.services`, which checks permissions and writes the audit log."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.utils import timezone

from controlplane.access.admin_site import may_use_admin
from controlplane.access.models import ApiToken
from controlplane.access.services import (
    MANAGE_ALL_TOKENS,
    create_api_token,
    is_token_active,
    record_user_access_change,
    revoke_api_token,
    user_access,
)
from controlplane.admin_mixins import SavedThroughServiceMixin
from controlplane.audit.actor import Actor
from controlplane.exceptions import ServiceError


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
class ApiTokenAdmin(SavedThroughServiceMixin, admin.ModelAdmin):
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
        return may_use_admin(request.user)

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


# --- Users and their roles ---------------------------------------------------------------------------------------

User = get_user_model()


class AuditedUserAdmin(UserAdmin):
    """Django's user admin; a change of a user's roles (groups) or admin flags is also written to the audit log,
    in the admin's own transaction (the change and its record commit together)."""

    def save_model(self, request: HttpRequest, obj: Any, form: forms.ModelForm, change: bool) -> None:
        request._user_before = user_access(obj.pk) if change else None  # type: ignore[attr-defined]
        super().save_model(request, obj, form, change)

    def save_related(self, request: HttpRequest, form: forms.ModelForm, formsets: Any, change: bool) -> None:
        super().save_related(request, form, formsets, change)
        before = getattr(request, "_user_before", None)
        record_user_access_change(Actor.from_request(request), form.instance.pk, before)


if admin.site.is_registered(User):
    admin.site.unregister(User)
admin.site.register(User, AuditedUserAdmin)
