"""Celery tasks of monitoring: thin wrappers over sampling, checks, evaluation, the failed-run scan, pruning and
notification delivery. Scheduled by django-celery-beat (migrations 0002 and 0003, editable in the admin)."""

from __future__ import annotations

from typing import Any

from celery import shared_task

from monitoring import components, evaluation, notify, rollups, sampling, services
from monitoring.models import Delivery

MAX_DELIVERY_RETRIES = 5


@shared_task(name="monitoring.sample_host", ignore_result=True)
def sample_host() -> dict[str, Any]:
    """Beat's tick: note it (the beat heartbeat), sample the host, roll up its finished minutes and hours, evaluate
    the system thresholds."""
    components.record_beat_heartbeat()
    sample = sampling.take_sample()
    if sample is None:
        return {"sampled": False}
    rolled = rollups.roll_up(sample.host, sample.taken_at)
    alerts = evaluation.evaluate_samples()
    return {"sampled": True, "rolled_up": rolled, "notified": len(alerts)}


@shared_task(name="monitoring.check_components", ignore_result=True)
def check_components() -> dict[str, Any]:
    if not sampling.monitoring_enabled():
        return {"checked": False}
    rows = components.check_components()
    alerts = evaluation.evaluate_health(rows)
    return {"checked": True, "notified": len(alerts), **{row.component: row.status for row in rows}}


@shared_task(name="monitoring.alert_on_failed_runs", ignore_result=True)
def alert_on_failed_runs() -> int:
    if not sampling.monitoring_enabled():
        return 0
    return len(services.alert_on_failed_runs())


@shared_task(name="monitoring.prune_samples", ignore_result=True)
def prune_samples() -> int:
    return sampling.prune_samples() + rollups.prune_rollups()


@shared_task(
    name="monitoring.deliver_notification",
    bind=True,
    ignore_result=True,
    autoretry_for=(notify.NotificationFailed,),
    retry_backoff=2,
    retry_backoff_max=600,
    retry_jitter=True,
    max_retries=MAX_DELIVERY_RETRIES,
)
def deliver_notification(self: Any, delivery_id: int) -> None:
    delivery = Delivery.objects.select_related("channel", "alert__flow_run__deployment__flow").get(pk=delivery_id)
    notify.deliver(delivery, final_attempt=self.request.retries >= self.max_retries)


@shared_task(name="monitoring.redispatch_stalled_deliveries", ignore_result=True)
def redispatch_stalled_deliveries() -> list[int]:
    """Beat's sweep for deliveries stored while the broker was down (every `REQUEUE_SECONDS`, migration 0003)."""
    return notify.redispatch_stalled_deliveries()
