"""Keep mirrored runs for RUN_RETENTION_DAYS (default 365); older finished runs are deleted in small batches.

Only runs that are terminal (or gone from Prefect) are pruned, by expected start time (indexed). Their state
history goes with them (CASCADE); subflow runs keep their row with `parent` cleared. Batches keep each transaction
short so the web and the sync are never blocked for long.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from workflows.models import TERMINAL_STATE_TYPES, FlowRun

logger = logging.getLogger(__name__)

PRUNE_BATCH_SIZE = 1000


def prune_old_runs(retention_days: int | None = None, batch_size: int = PRUNE_BATCH_SIZE) -> int:
    """Delete finished mirrored runs that started expected more than `retention_days` ago; returns how many."""
    days = settings.RUN_RETENTION_DAYS if retention_days is None else retention_days
    cutoff = timezone.now() - timedelta(days=days)
    prunable = FlowRun.objects.filter(expected_start_time__lt=cutoff).filter(
        Q(state_type__in=TERMINAL_STATE_TYPES) | Q(deleted_in_prefect=True)
    )
    deleted = 0
    while True:
        batch = list(prunable.order_by("expected_start_time").values_list("pk", flat=True)[:batch_size])
        if not batch:
            break
        with transaction.atomic():
            FlowRun.objects.filter(pk__in=batch).delete()
        deleted += len(batch)
    if deleted:
        logger.info("pruned %d mirrored runs older than %d days", deleted, days)
    return deleted
