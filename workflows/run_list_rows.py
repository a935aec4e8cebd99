"""The run list's rows written directly, the same markup as Django's `items_for_result` (a test compares them).

Django's admin builds each changelist cell generically: a model-field lookup that raises and catches
`FieldDoesNotExist` for every computed column, an empty-value lookup and a `format_html` per cell, and, as soon as
the list is filtered or paged, a URL `resolve()` per row to carry the filters into the row's link. On the 50-row run
list at 1M runs that was about a third of a filtered page's time (profiled: 50 resolves and 50 reverses per page).
Here the row link is worked out once per page and each cell is the column's own output.

Beyond the admin's documented hooks this uses `django.contrib.admin.templatetags.admin_list` (`result_headers`,
`result_hidden_fields`, `ResultList`, and `items_for_result` in the test), as in Django 5.2, pinned in
requirements/constraints.txt. `RUN_LIST_PLAIN_ROWS=false` switches back to Django's own rows; so does any list this
module does not cover (editable, popup, or a column other than the checkbox, a ModelAdmin method or a text field).
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.admin.templatetags import admin_list
from django.contrib.admin.templatetags.admin_urls import add_preserved_filters
from django.contrib.admin.utils import display_for_value
from django.core.exceptions import FieldDoesNotExist
from django.db import models
from django.urls import reverse
from django.utils.html import conditional_escape, format_html

CHECKBOX = "action_checkbox"
PK_MARKER = "8191817161"  # digits: reverse() and the preserved filters leave them as they are


def result_list(cl: Any) -> dict[str, Any]:
    """The context of Django's `{% result_list %}`, with the rows written here when the list allows it."""
    if not (settings.RUN_LIST_PLAIN_ROWS and covers(cl)):
        return admin_list.result_list(cl)
    headers = list(admin_list.result_headers(cl))
    return {
        "cl": cl,
        "result_hidden_fields": list(admin_list.result_hidden_fields(cl)),
        "result_headers": headers,
        "num_sorted_fields": sum(1 for header in headers if header["sortable"] and header["sorted"]),
        "results": rows(cl),
    }


def covers(cl: Any) -> bool:
    """Read-only lists with an integer id, linked columns named, and only columns this module writes."""
    if cl.formset is not None or cl.is_popup or not cl.list_display_links:
        return False
    if not isinstance(cl.opts.pk, models.IntegerField):
        return False
    return all(_column_kind(cl, column) is not None for column in cl.list_display)


def rows(cl: Any) -> list[admin_list.ResultList]:
    """Each row's cells: the checkbox, the link to the object (the preserved filters included), the columns; every
    value escaped unless already safe (the columns' own `format_html` output), as Django does."""
    link_before, link_after = _change_link(cl)
    empty = cl.model_admin.get_empty_value_display()
    columns = [(column, *_column_kind(cl, column), column in cl.list_display_links) for column in cl.list_display]
    results = []
    for obj in cl.result_list:
        row, first_link = [], True
        for column, kind, read, linked in columns:
            if kind == CHECKBOX:
                row.append(format_html('<td class="action-checkbox">{}</td>', read(obj)))
                continue
            value = _shown(read(obj), empty)
            if not linked:
                row.append(format_html('<td class="field-{}">{}</td>', column, value))
                continue
            tag, first_link = ("th" if first_link else "td"), False
            link = format_html('<a href="{}{}{}">{}</a>', link_before, obj.pk, link_after, value)
            row.append(format_html('<{} class="field-{}">{}</{}>', tag, column, link, tag))
        results.append(admin_list.ResultList(None, row))
    return results


def _column_kind(cl: Any, column: Any) -> tuple[str, Any] | None:
    """("checkbox" | "method" | "text", how to read it from a row), or None for a column left to Django."""
    if not isinstance(column, str):
        return None
    if column == CHECKBOX:
        return CHECKBOX, getattr(cl.model_admin, column)
    try:
        field = cl.model._meta.get_field(column)
    except FieldDoesNotExist:
        method = getattr(cl.model_admin, column, None)
        return ("method", method) if callable(method) and not getattr(method, "boolean", False) else None
    if isinstance(field, models.CharField | models.TextField) and not field.choices:
        return "text", lambda obj: getattr(obj, field.attname)
    return None


def _shown(value: Any, empty: str) -> str:
    """A cell's value as Django shows it: blank as the empty marker, text as it is, anything else formatted."""
    if isinstance(value, str):
        return conditional_escape(value) if value.strip() else empty
    return conditional_escape(display_for_value(value, empty))


def _change_link(cl: Any) -> tuple[str, str]:
    """The row link before and after the object's id: one reverse and one merge of the preserved filters per page
    instead of one per row."""
    opts = cl.opts
    name, site = f"admin:{opts.app_label}_{opts.model_name}_change", cl.model_admin.admin_site.name
    url = add_preserved_filters(
        {"preserved_filters": cl.preserved_filters, "opts": opts}, reverse(name, args=(PK_MARKER,), current_app=site)
    )
    before, after = url.split(PK_MARKER, 1)
    return before, after
