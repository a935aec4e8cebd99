"""Celery tasks: thin wrappers that call `workflows.sync` / `workflows.retention` / `workflows.bulk_jobs`.

The sync, pruning and the stalled-job sweep are scheduled by django-celery-beat (PeriodicTasks created by migrations
0002 and 0011, editable in the admin); a bulk operation is queued by `workflows.bulk_jobs.submit_bulk_operation`.
"""

from __future__ import annotations

import logging
from dataclasses import asdict
from typing import Any

from celery import shared_task

from workflows import bulk_jobs, prefect_api
from workflows.retention import prune_old_runs
from workflows.sync import sync_prefect

logger = logging.getLogger(__name__)

SYNC_TASK = "workflows.sync_prefect_mirror"
PRUNE_TASK = "workflows.prune_mirrored_runs"
BULK_TASK = "workflows.run_bulk_operation"
REQUEUE_TASK = "workflows.requeue_stalled_bulk_operations"


@shared_task(name=SYNC_TASK, ignore_result=True)
def sync_prefect_mirror(full: bool = False) -> dict[str, Any]:
    """One sync tick. Prefect down: one clear error line (also in SyncStatus), cursor kept, next tick catches up."""
    try:
        result = sync_prefect(full=full)
    except prefect_api.PrefectError as exc:
        logger.error("Prefect sync failed, will retry next tick: %s", exc)
        return {"ok": False, "error": str(exc)}
    return {"ok": True, **asdict(result)}


@shared_task(name=PRUNE_TASK, ignore_result=True)
def prune_mirrored_runs() -> int:
    return prune_old_runs()


@shared_task(name=BULK_TASK, ignore_result=True)
def run_bulk_operation(operation_id: int) -> None:
    """Run one queued bulk operation (progress and per-item results are saved on it as it goes)."""
    bulk_jobs.run_bulk_operation(operation_id)


@shared_task(name=REQUEUE_TASK, ignore_result=True)
def requeue_stalled_bulk_operations() -> list[int]:
    """Beat's sweep for jobs stored while the broker was down (every `REQUEUE_SECONDS`, migration 0011)."""
    return bulk_jobs.requeue_stalled_operations()
