"""Markdown for the flows' report artifacts."""

from __future__ import annotations

from typing import Any


def markdown_table(title: str, header: tuple[str, ...], rows: list[tuple[Any, ...]]) -> str:
    """A `## title` section holding a table, or "none" when there are no rows."""
    lines = [f"## {title}", "", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows] or ["none"]
    return "\n".join(lines)
