"""`{% run_result_list cl %}`: Django's `{% result_list cl %}` with the run list's rows written by
`workflows.run_list_rows`."""

from __future__ import annotations

from typing import Any

from django import template

from workflows import run_list_rows

register = template.Library()


@register.inclusion_tag("admin/change_list_results.html")
def run_result_list(cl: Any) -> dict[str, Any]:
    return run_list_rows.result_list(cl)
