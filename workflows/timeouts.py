"""The configuration's default timeout: Prefect has no per-run timeout for a deployment run (a flow's own
`timeout_seconds` is fixed in its code), so runs still RUNNING `default_timeout_seconds` after they started are
cancelled through the cancel service with the system as actor (audited). Run by the run-timeouts flow."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.utils import timezone

from controlplane.audit.actor import Actor
from controlplane.exceptions import ServiceError
from workflows.configuration import current_config
from workflows.models import FlowRun, StateType
from workflows.services import cancel_run

logger = logging.getLogger(__name__)


def cancel_overdue_runs(now: datetime | None = None) -> dict[str, list[str]]:
    """Cancel mirrored deployment runs RUNNING longer than the default timeout; returns the cancelled and refused."""
    timeout = current_config().default_timeout_seconds
    cutoff = (now or timezone.now()) - timedelta(seconds=timeout)
    overdue = FlowRun.objects.select_related("deployment__flow").filter(
        state_type=StateType.RUNNING, start_time__lt=cutoff, deployment__isnull=False
    )
    cancelled, refused = [], []
    for run in overdue:
        try:
            cancel_run(Actor.system(), run)
        except ServiceError as exc:  # refused and audited by the service (e.g. it finished meanwhile)
            logger.info("run %s over the %ss timeout not cancelled: %s", run.prefect_id, timeout, exc)
            refused.append(str(run.prefect_id))
            continue
        cancelled.append(str(run.prefect_id))
    if cancelled:
        logger.info("cancelled %d runs running longer than %ss", len(cancelled), timeout)
    return {"cancelled": cancelled, "refused": refused}
