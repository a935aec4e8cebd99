"""`manage.py export_schema` writes the GraphQL SDL to `schema.graphql`; `--check` fails (for CI) when it is stale."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from strawberry.printer import print_schema

DEFAULT_PATH = Path(settings.BASE_DIR) / "schema.graphql"


def current_sdl() -> str:
    from controlplane.api.schema import schema

    return print_schema(schema) + "\n"


class Command(BaseCommand):
    help = "Export the GraphQL schema (SDL) to schema.graphql, or check that the file is up to date."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--path", type=Path, default=DEFAULT_PATH, help="Where the SDL lives.")
        parser.add_argument(
            "--check", action="store_true", help="Write nothing; exit non-zero if the file differs from the schema."
        )

    def handle(self, *args: Any, path: Path, check: bool, **options: Any) -> None:
        sdl = current_sdl()
        if check:
            if not path.exists() or path.read_text(encoding="utf-8") != sdl:
                raise CommandError(f"{path} is stale: run `manage.py export_schema` and commit the result.")
            self.stdout.write(f"{path} matches the schema.")
            return
        path.write_text(sdl, encoding="utf-8")
        self.stdout.write(f"Wrote {path}.")
