"""Keep the mirror in step with Prefect: `sync_flow_runs()` (every SYNC_INTERVAL_SECONDS from Celery beat and from
`manage.py sync_prefect`) and `sync_reference_data()`.

Prefect 3 has no "updated since" filter, so an incremental sync reads
  * the runs whose expected start, start or end time is after the stored cursor (minus an overlap), and
  * every mirrored run that is not terminal yet, by id (a state change never moves those times backwards),
page by page (≤ 200), each page upserted in bulk and committed before the next is read, so memory stays bounded
and a failure loses nothing already written. The cursor moves only when the whole sync has committed; a sync that
fails leaves it where it was and the next tick re-reads the same windows (upserts are idempotent).

A full sync (`full=True`, and the first sync of an empty mirror) reads every run; a full reconcile also marks runs
that vanished from Prefect as `deleted_in_prefect` ("ghosts", hidden by default from the admin and GraphQL). One
kind of vanished run is deleted from the mirror instead: an auto-scheduled run that never started. Prefect deletes
and regenerates those whenever serve() restarts or a schedule or concurrency limit changes, so marking them would
pile up ghosts that never happened; runs that ran are kept (see also `workflows.retention`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from django.db.models import F
from django.utils import timezone

from workflows import prefect_api
from workflows.locks import exclusive
from workflows.mirror import upsert_flow_runs, write_flow_runs
from workflows.models import TERMINAL_STATE_TYPES, FlowRun, StateType, SyncStatus, never_started_auto_scheduled_run
from workflows.references import sync_reference_data
from workflows.services import reapply_lost_concurrency_cap

__all__ = ["SyncResult", "sync_flow_runs", "sync_prefect", "sync_reference_data", "upsert_flow_runs"]

logger = logging.getLogger(__name__)

FLOW_RUNS_STREAM = "flow_runs"
REFERENCES_STREAM = "reference_data"
SYNC_LOCK = "sync-flow-runs"
# Re-read this much before the cursor: covers clock skew between Prefect and us and rows committed late.
WINDOW_OVERLAP = timedelta(seconds=30)
ID_CHUNK = prefect_api.PAGE_SIZE_LIMIT
UNFINISHED_STATE_TYPES = sorted({*StateType.values, ""} - TERMINAL_STATE_TYPES)

PageCallback = Callable[[int, int], None]  # (pages read so far, rows written so far)


@dataclass
class SyncResult:
    full: bool = False
    skipped: bool = False  # another sync held the lock
    pages: int = 0
    runs_read: int = 0
    rows_written: int = 0
    marked_deleted: int = 0
    duration_seconds: float = 0.0


class _Progress:
    """Counts pages and rows, writes each page, and calls the caller's per-page callback."""

    def __init__(self, result: SyncResult, full: bool, on_page: PageCallback | None) -> None:
        self.result = result
        self.full = full
        self.on_page = on_page
        self.seen: set[UUID] = set()

    def write(self, page: list[dict[str, Any]]) -> None:
        fresh = [run for run in page if UUID(run["id"]) not in self.seen]
        self.seen.update(UUID(run["id"]) for run in fresh)
        written = write_flow_runs(fresh, with_history=not self.full, force=self.full)
        self.result.pages += 1
        self.result.runs_read += len(page)
        self.result.rows_written += len(written.written)
        if self.on_page:
            self.on_page(self.result.pages, self.result.rows_written)


def sync_flow_runs(full: bool = False, wait_seconds: float = 0, on_page: PageCallback | None = None) -> SyncResult:
    """Bring the flow-run mirror up to date with Prefect; see the module docstring.

    Returns with `skipped=True` if another sync holds the lock for longer than `wait_seconds`. Raises
    `PrefectUnavailable` (after recording it in `SyncStatus`) when Prefect cannot be read; the cursor stays put.
    """
    with exclusive(SYNC_LOCK, wait_seconds) as acquired:
        if not acquired:
            logger.info("flow-run sync skipped: another sync is running")
            return SyncResult(full=full, skipped=True)
        status, _ = SyncStatus.objects.get_or_create(stream=FLOW_RUNS_STREAM)
        full = full or status.cursor is None
        started = timezone.now()
        result = SyncResult(full=full)
        progress = _Progress(result, full, on_page)
        clock = time.monotonic()
        try:
            with prefect_api.session():
                if full:
                    _read_everything(progress)
                    result.marked_deleted = _mark_vanished_runs(synced_before=started)
                else:
                    _read_windows(progress, since=status.cursor - WINDOW_OVERLAP)
                    result.marked_deleted = _reread_unfinished_runs(progress)
        except prefect_api.PrefectError as exc:
            _record_failure(FLOW_RUNS_STREAM, exc)
            raise
        result.duration_seconds = time.monotonic() - clock
        _record_success(FLOW_RUNS_STREAM, result, cursor=started)
        return result


def sync_prefect(full: bool = False, wait_seconds: float = 0, on_page: PageCallback | None = None) -> SyncResult:
    """Reference data first (so runs find their deployments), then flow runs: what the beat task runs."""
    clock = time.monotonic()
    try:
        written = sync_reference_data()
    except prefect_api.PrefectError as exc:
        _record_failure(REFERENCES_STREAM, exc)
        raise
    _record_success(REFERENCES_STREAM, SyncResult(rows_written=written, duration_seconds=time.monotonic() - clock))
    _reapply_concurrency_cap()
    return sync_flow_runs(full=full, wait_seconds=wait_seconds, on_page=on_page)


def _reapply_concurrency_cap() -> None:
    try:
        fixed = reapply_lost_concurrency_cap()
    except prefect_api.PrefectError as exc:  # the runs still sync; the next sync tries again
        logger.warning("could not re-apply the concurrency cap in Prefect: %s", exc)
        return
    if fixed:
        logger.info("re-applied the concurrency cap to %d deployments / work pools that Prefect had lost it on", fixed)


# --- reads ------------------------------------------------------------------------------------------------------


def _read_everything(progress: _Progress) -> None:
    # Newest first with offset paging: a run created meanwhile shifts later pages down (a duplicate, skipped
    # by `progress.seen`), never up, so no run is missed.
    for page in prefect_api.iter_flow_runs(None, sort="EXPECTED_START_TIME_DESC"):
        progress.write(page)


def _read_windows(progress: _Progress, since: datetime) -> None:
    after = {"after_": since.isoformat()}
    windows = [
        ({"expected_start_time": after}, "EXPECTED_START_TIME_DESC"),
        ({"start_time": after}, "START_TIME_DESC"),
        ({"end_time": after}, "END_TIME_DESC"),
    ]
    for flow_run_filter, sort in windows:
        for page in prefect_api.iter_flow_runs(flow_run_filter, sort=sort):
            progress.write(page)


def _unfinished_run_ids(exclude: set[UUID]) -> Iterator[list[UUID]]:
    # `state_type IN (…)` rather than `NOT IN (terminal)`, so the state_type index is used on a huge table.
    ids = FlowRun.objects.filter(state_type__in=UNFINISHED_STATE_TYPES, deleted_in_prefect=False).values_list(
        "prefect_id", flat=True
    )
    chunk: list[UUID] = []
    for run_id in ids.iterator(chunk_size=2000):
        if run_id in exclude:
            continue
        chunk.append(run_id)
        if len(chunk) == ID_CHUNK:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _reread_unfinished_runs(progress: _Progress) -> int:
    """Re-read every mirrored run not yet terminal; one absent from Prefect was deleted there. Returns that count."""
    chunks = list(_unfinished_run_ids(exclude=set(progress.seen)))
    gone: list[UUID] = []
    for chunk in chunks:
        found = prefect_api.read_flow_runs_by_id(chunk)
        progress.write(found)
        gone.extend(set(chunk) - {UUID(run["id"]) for run in found})
    return _mark_deleted(gone)


def _mark_vanished_runs(synced_before: datetime) -> int:
    """After a full read: runs not touched by it are candidates; those Prefect confirms absent are marked."""
    candidates = FlowRun.objects.filter(deleted_in_prefect=False, synced_at__lt=synced_before).values_list(
        "prefect_id", flat=True
    )
    gone: list[UUID] = []
    chunk: list[UUID] = []
    for run_id in candidates.iterator(chunk_size=2000):
        chunk.append(run_id)
        if len(chunk) == ID_CHUNK:
            gone.extend(_absent_from_prefect(chunk))
            chunk = []
    if chunk:
        gone.extend(_absent_from_prefect(chunk))
    return _mark_deleted(gone)


def _absent_from_prefect(run_ids: list[UUID]) -> set[UUID]:
    return set(run_ids) - {UUID(run["id"]) for run in prefect_api.read_flow_runs_by_id(run_ids)}


def _mark_deleted(run_ids: list[UUID]) -> int:
    """Runs gone from Prefect: regenerated auto-scheduled runs leave the mirror, the others are marked as ghosts.
    Returns how many were marked."""
    marked = dropped = 0
    for start in range(0, len(run_ids), ID_CHUNK):
        chunk = FlowRun.objects.filter(prefect_id__in=run_ids[start : start + ID_CHUNK], deleted_in_prefect=False)
        dropped += chunk.filter(never_started_auto_scheduled_run()).delete()[1].get(FlowRun._meta.label, 0)
        marked += chunk.update(deleted_in_prefect=True, synced_at=timezone.now())
    if dropped:
        logger.info("%d auto-scheduled flow runs Prefect deleted before they started dropped from the mirror", dropped)
    if marked:
        logger.info("%d flow runs gone from Prefect marked deleted_in_prefect", marked)
    return marked


# --- status -----------------------------------------------------------------------------------------------------


def _record_success(stream: str, result: SyncResult, cursor: datetime | None = None) -> None:
    now = timezone.now()
    fields: dict[str, Any] = {
        "last_attempt_at": now,
        "last_success_at": now,
        "last_duration_seconds": result.duration_seconds,
        "last_rows_written": result.rows_written,
        "total_rows_written": F("total_rows_written") + result.rows_written,
    }
    if cursor is not None:
        fields["cursor"] = cursor
    SyncStatus.objects.get_or_create(stream=stream)
    SyncStatus.objects.filter(stream=stream).update(**fields)


def _record_failure(stream: str, exc: Exception) -> None:
    logger.error("%s sync failed, cursor kept: %s", stream, exc)
    now = timezone.now()
    SyncStatus.objects.get_or_create(stream=stream)
    SyncStatus.objects.filter(stream=stream).update(last_attempt_at=now, last_error=str(exc)[:5000], last_error_at=now)
