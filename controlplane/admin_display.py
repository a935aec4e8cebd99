"""Small display helpers for admin list columns, styled by controlplane/static/controlplane/theme.css."""

from __future__ import annotations

from django.utils.html import format_html
from django.utils.safestring import SafeString


def badge(label: str, kind: str | None = None) -> SafeString:
    """A coloured pill: `.badge-<kind>` (default: the label, lowercased), e.g. failed, running, critical, ok."""
    return format_html('<span class="badge badge-{}">{}</span>', (kind or label or "none").lower(), label or "-")
