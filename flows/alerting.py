"""The `on_failure` hook of the catalogue's flows: a run that failed for good (its retries spent) raises a critical
control-plane alert, audited as the system and sent to the notification channels; `raise_alert` is how the
analysis flows raise theirs."""

from __future__ import annotations

from typing import Any

from django.utils import timezone

from monitoring import notify
from monitoring.models import Severity
from monitoring.services import open_alert

FLOW_FAILED_RULE = "flow_failed"


def alert_on_failure(flow: Any, flow_run: Any, state: Any) -> None:
    """Prefect calls this with the flow, its run and the final state when the run ends FAILED."""
    message = f"Flow run {flow_run.name} of {flow.name} failed: {state.message or state.name}"
    raise_alert(FLOW_FAILED_RULE, f"flow:{flow.name}", Severity.CRITICAL, message)


def raise_alert(rule: str, subject: str, severity: str, message: str, value: float | None = None) -> bool:
    """Open an alert (audited as the system) and notify the channels; False when one is already open for the rule
    and subject (it is not repeated)."""
    now = timezone.now()
    alert = open_alert(rule, subject, severity, message, now=now, value=value)
    if alert is None:
        return False
    notify.notify_alert(alert, now)
    return True
