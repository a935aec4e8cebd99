"""Admin building blocks shared by the rooms' admin modules."""

from __future__ import annotations

from typing import Any

from django.contrib.admin import helpers
from django.http import HttpRequest, HttpResponse
from django.utils.decorators import method_decorator
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_protect


class ReadOnlyAdminMixin:
    """Nobody adds, changes or deletes these rows through the admin (the audit log, the Prefect mirror)."""

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class PlainActionCheckboxMixin:
    """A list row's selection checkbox written as markup, the same as Django's (a test compares them): Django renders
    it as a form widget through the template engine, a third of the time a 50-row list spends on its rows."""

    def action_checkbox(self, obj: Any) -> SafeString:
        label = format_html(_("Select this object for an action - {}"), str(obj))
        return format_html(
            '<input type="checkbox" name="{}" value="{}" class="action-select" aria-label="{}">',
            helpers.ACTION_CHECKBOX_NAME,
            str(obj.pk),
            label,
        )


class SavedThroughServiceMixin:
    """For a model whose admin form saves through a service (which checks, writes and audits in a durable
    transaction of its own): the form's POST is not wrapped in the admin's usual transaction, which the durable one
    must not be nested in. `_changeform_view` is the body of Django's `changeform_view` (Django pinned exactly in
    requirements/constraints.txt); `csrf_protect` is what Django's wrapper adds."""

    @method_decorator(csrf_protect)
    def changeform_view(
        self, request: HttpRequest, object_id: str | None = None, form_url: str = "", extra_context: Any = None
    ) -> HttpResponse:
        return self._changeform_view(request, object_id, form_url, extra_context)  # type: ignore[attr-defined]
