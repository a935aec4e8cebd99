"""Retention of notification deliveries: finished ones (sent or failed) older than the retention period are
deleted in batches; pending ones are still being retried and stay whatever their age."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from monitoring.models import Delivery, DeliveryStatus

PRUNE_BATCH = 5000


def prune_deliveries(retention_days: int, batch_size: int = PRUNE_BATCH) -> int:
    """Delete finished deliveries created more than `retention_days` ago; returns how many."""
    cutoff = timezone.now() - timedelta(days=retention_days)
    expired = Delivery.objects.filter(created_at__lt=cutoff).exclude(status=DeliveryStatus.PENDING)
    deleted = 0
    while True:
        ids = list(expired.order_by("created_at").values_list("pk", flat=True)[:batch_size])
        if not ids:
            return deleted
        deleted += Delivery.objects.filter(pk__in=ids).delete()[0]
