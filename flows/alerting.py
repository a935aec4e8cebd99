"""The `on_failure` hook of the catalogue's flows: a run that failed for good (its retries spent) raises a critical
control-plane alert, audited as the system and sent to the notification channels."""

from __future__ import annotations

from typing import Any

from django.utils import timezone

from monitoring import notify
from monitoring.models import Severity
from monitoring.services import open_alert

FLOW_FAILED_RULE = "flow_failed"


def alert_on_failure(flow: Any, flow_run: Any, state: Any) -> None:
    """Prefect calls this with the flow, its run and the final state when the run ends FAILED."""
    now = timezone.now()
    message = f"Flow run {flow_run.name} of {flow.name} failed: {state.message or state.name}"
    alert = open_alert(FLOW_FAILED_RULE, f"flow:{flow.name}", Severity.CRITICAL, message, now=now)
    if alert is not None:
        notify.notify_alert(alert, now)
