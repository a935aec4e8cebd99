"""Auto-recovery: re-run CRASHED deployment runs (the infrastructure failed; FAILED runs are the code's own verdict
and are left alone), each at most the configuration's `retry_attempts` times, through the retry service with the
system as actor — so every retry is audited, and the audit log is what counts the attempts already made.

Switched by `OrchestrationConfig.auto_recovery_enabled`; off, it does nothing and says so."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db.models import Count
from django.utils import timezone

from controlplane.audit.actor import SYSTEM_LABEL, Actor
from controlplane.audit.models import AuditEvent, AuditOutcome
from controlplane.exceptions import ServiceError
from workflows.configuration import current_config
from workflows.models import FlowRun, StateType
from workflows.services import retry_run

logger = logging.getLogger(__name__)
RETRY_ACTION = "flow_run.retry"


@dataclass
class RecoveryResult:
    enabled: bool
    message: str = ""
    retried: list[str] = field(default_factory=list)
    exhausted: list[str] = field(default_factory=list)  # crashed runs already retried retry_attempts times
    refused: dict[str, str] = field(default_factory=dict)


def recover_crashed_runs(window: timedelta, now: datetime | None = None) -> RecoveryResult:
    """Retry each mirrored CRASHED deployment run expected to start within `window` that the system has retried
    fewer than `retry_attempts` times."""
    config = current_config()
    if not config.auto_recovery_enabled:
        message = "Auto-recovery is switched off (orchestration configuration); nothing was re-run."
        logger.info(message)
        return RecoveryResult(enabled=False, message=message)
    since = (now or timezone.now()) - window
    crashed = list(
        FlowRun.objects.select_related("deployment__flow")
        .filter(state_type=StateType.CRASHED, deployment__isnull=False, expected_start_time__gte=since)
        .order_by("expected_start_time")
    )
    attempts = system_retries_of([run.prefect_id for run in crashed])
    result = RecoveryResult(enabled=True)
    for run in crashed:
        run_id = str(run.prefect_id)
        if attempts.get(run_id, 0) >= config.retry_attempts:
            result.exhausted.append(run_id)
            continue
        try:
            retry_run(Actor.system(), run)
        except ServiceError as exc:  # refused and audited by the service (e.g. no longer crashed in Prefect)
            result.refused[run_id] = str(exc)
            continue
        result.retried.append(run_id)
    result.message = (
        f"{len(result.retried)} crashed runs re-run, {len(result.exhausted)} at the limit of "
        f"{config.retry_attempts}, {len(result.refused)} refused."
    )
    logger.info(result.message)
    return result


def system_retries_of(run_ids: list[object]) -> dict[str, int]:
    """How many times the system has retried each run, from the audit log."""
    rows = (
        AuditEvent.objects.filter(
            action=RETRY_ACTION,
            actor_label=SYSTEM_LABEL,
            actor_user__isnull=True,
            outcome=AuditOutcome.SUCCESS,
            target_id__in=[str(run_id) for run_id in run_ids],
        )
        .values("target_id")
        .annotate(count=Count("pk"))
    )
    return {row["target_id"]: row["count"] for row in rows}
