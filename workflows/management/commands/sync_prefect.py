"""`manage.py sync_prefect [--full]`: bring the mirror up to date with Prefect now (what the beat task does)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from workflows import prefect_api
from workflows.sync import sync_prefect


class Command(BaseCommand):
    help = (
        "Sync flows, deployments, work pools and flow runs from Prefect into the mirror. Incremental by default; "
        "--full re-reads every run and marks runs gone from Prefect as deleted_in_prefect (never deletes rows)."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--full", action="store_true", help="re-read every run and reconcile deletions")
        parser.add_argument(
            "--wait", type=float, default=300, help="seconds to wait for a running sync to finish (default 300)"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        verbose = options["verbosity"] > 1

        def progress(pages: int, written: int) -> None:
            if verbose:
                self.stdout.write(f"  page {pages}: {written} rows written so far")

        try:
            result = sync_prefect(full=options["full"], wait_seconds=options["wait"], on_page=progress)
        except prefect_api.PrefectError as exc:
            raise CommandError(f"sync failed, nothing lost (the next sync resumes from its cursor): {exc}") from exc
        if result.skipped:
            raise CommandError(f"another sync held the lock for more than {options['wait']:.0f}s; try again later")
        kind = "full" if result.full else "incremental"
        self.stdout.write(
            self.style.SUCCESS(
                f"{kind} sync: {result.runs_read} runs read in {result.pages} pages, {result.rows_written} written, "
                f"{result.marked_deleted} marked deleted_in_prefect, {result.duration_seconds:.2f}s"
            )
        )
