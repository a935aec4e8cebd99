"""`schema.graphql` at the repo root is the SDL of the live schema; CI fails when someone forgets to re-export."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command

from controlplane.management.commands.export_schema import current_sdl

COMMITTED_SDL = Path(settings.BASE_DIR) / "schema.graphql"


def test_committed_schema_graphql_is_up_to_date():
    assert COMMITTED_SDL.read_text(encoding="utf-8") == current_sdl(), (
        "schema.graphql is stale: run `.venv/bin/python manage.py export_schema` and commit it"
    )


def test_check_fails_on_a_stale_file_and_export_fixes_it(tmp_path):
    sdl = tmp_path / "schema.graphql"
    sdl.write_text("type Query { stale: Int }\n", encoding="utf-8")
    with pytest.raises(CommandError, match="stale"):
        call_command("export_schema", "--check", path=sdl)
    call_command("export_schema", path=sdl)
    call_command("export_schema", "--check", path=sdl)
    assert "flowRuns(" in sdl.read_text(encoding="utf-8")


def test_check_fails_when_the_file_is_missing(tmp_path):
    with pytest.raises(CommandError, match="stale"):
        call_command("export_schema", "--check", path=tmp_path / "absent.graphql")
