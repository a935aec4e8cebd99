"""Notifications: which channels an alert goes to, a `Delivery` row per send, and the send itself (Slack incoming
webhook, generic JSON webhook signed with the channel's secret, e-mail through Django's backend).

Sends run in the Celery task `monitoring.deliver_notification` (retried with exponential backoff); httpx with a short
timeout (`NOTIFICATION_TIMEOUT_SECONDS`). The generic webhook's body is signed as
`X-Signature: sha256=<hex HMAC-SHA256 of the exact body bytes, keyed with the channel's secret>`. A channel's URL and
secret are shown only masked (`masked_target`).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import httpx
from django.conf import settings
from django.core.mail import send_mail
from django.utils import timezone

from controlplane.environment import MASK
from monitoring.models import (
    SEVERITY_RANK,
    Alert,
    AlertStatus,
    ChannelKind,
    Delivery,
    DeliveryStatus,
    NotificationChannel,
    Severity,
)

logger = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Signature"
TEST_MESSAGE = "Test notification from the Prefect control plane: this channel works."


class NotificationFailed(Exception):
    """A send failed in a way worth retrying (network error, non-2xx answer)."""


def masked_target(channel: NotificationChannel) -> str:
    """What may be shown of a channel's target: e-mail addresses as they are, a URL as its scheme and host only."""
    if channel.kind == ChannelKind.EMAIL:
        return channel.target
    parts = urlsplit(channel.target)
    return f"{parts.scheme}://{parts.hostname or ''}/{MASK}" if parts.scheme else MASK


def sign(body: bytes, secret: str) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def _deployment_name(alert: Alert) -> str:
    if alert.subject.startswith("deployment:"):
        return alert.subject.removeprefix("deployment:")
    run = alert.flow_run
    return str(run.deployment) if run is not None and run.deployment is not None else ""


def wants(channel: NotificationChannel, alert: Alert) -> bool:
    """The channel is on, the alert is at least as severe as it asks, and it passes its deployment and tag filters."""
    if not channel.enabled:
        return False
    if SEVERITY_RANK[Severity(alert.severity)] < SEVERITY_RANK[Severity(channel.min_severity)]:
        return False
    if channel.deployment_filter and _deployment_name(alert) != channel.deployment_filter:
        return False
    return not channel.tag_filter or (alert.flow_run is not None and channel.tag_filter in alert.flow_run.tags)


def notify_alert(alert: Alert, now: datetime | None = None) -> list[Delivery]:
    """Queue a delivery of `alert` to each channel that wants it, and note when it was notified."""
    now = now or timezone.now()
    channels = [channel for channel in NotificationChannel.objects.filter(enabled=True) if wants(channel, alert)]
    deliveries = Delivery.objects.bulk_create([Delivery(channel=channel, alert=alert) for channel in channels])
    Alert.objects.filter(pk=alert.pk).update(last_notified_at=now)
    alert.last_notified_at = now
    dispatch(deliveries)
    return deliveries


def dispatch(deliveries: list[Delivery]) -> list[int]:
    """Send each delivery to the workers; returns the ids sent. A broker that cannot be reached leaves the rest
    pending (one warning): beat's `redispatch_stalled_deliveries` sends them once it is back."""
    from monitoring.tasks import deliver_notification  # the task module imports this one

    sent: list[int] = []
    for delivery in deliveries:
        try:
            deliver_notification.delay(delivery.pk)
        except Exception as exc:  # kombu's errors differ by transport; every one means "not sent"
            unsent = [d.pk for d in deliveries if d.pk not in sent]
            logger.warning(
                "deliveries %s stay pending: the broker is unreachable (%s: %s); they are sent again within %s s of "
                "the broker's return", unsent, type(exc).__name__, exc, settings.REQUEUE_SECONDS,
            )  # fmt: skip
            break
        sent.append(delivery.pk)
    return sent


def redispatch_stalled_deliveries(now: datetime | None = None) -> list[int]:
    """Send again the deliveries never attempted `REQUEUE_SECONDS` after they were stored; returns the ids sent."""
    cutoff = (now or timezone.now()) - timedelta(seconds=settings.REQUEUE_SECONDS)
    stalled = Delivery.objects.filter(status=DeliveryStatus.PENDING, attempts=0, created_at__lte=cutoff)
    return dispatch(list(stalled.only("pk")))


def alert_text(alert: Alert | None) -> str:
    if alert is None:
        return TEST_MESSAGE
    if alert.status == AlertStatus.RESOLVED:
        return f"[RESOLVED] {alert.message} ({alert.subject}; alert #{alert.pk}, was {alert.severity})"
    return f"[{alert.severity.upper()}] {alert.message} ({alert.subject}; alert #{alert.pk}, {alert.status})"


def alert_payload(alert: Alert | None) -> dict[str, Any]:
    if alert is None:
        return {"test": True, "text": TEST_MESSAGE}
    return {
        "text": alert_text(alert),
        "alert": {
            "id": alert.pk,
            "rule": alert.rule,
            "subject": alert.subject,
            "severity": alert.severity,
            "status": alert.status,
            "message": alert.message,
            "first_seen": alert.first_seen.isoformat(),
            "last_seen": alert.last_seen.isoformat(),
            "last_value": alert.last_value,
            "peak_value": alert.peak_value,
            "flow_run": str(alert.flow_run.prefect_id) if alert.flow_run else None,
        },
    }


def _post(url: str, body: bytes, headers: dict[str, str]) -> int:
    try:
        response = httpx.post(
            url,
            content=body,
            headers={"Content-Type": "application/json", **headers},
            timeout=settings.NOTIFICATION_TIMEOUT_SECONDS,
        )
    except httpx.HTTPError as exc:
        raise NotificationFailed(f"{type(exc).__name__}: {exc}") from exc
    if not response.is_success:
        raise NotificationFailed(f"HTTP {response.status_code}: {response.text[:200]}")
    return response.status_code


def send(channel: NotificationChannel, alert: Alert | None) -> int | None:
    """Send one notification; returns the HTTP status (None for e-mail). Raises `NotificationFailed`."""
    subject = "Control plane alert" if alert is None else f"[{alert.severity}] {alert.subject}"
    return send_message(channel, subject, alert_text(alert), alert_payload(alert))


def send_message(channel: NotificationChannel, subject: str, text: str, payload: dict[str, Any]) -> int | None:
    """Send any message through a channel: e-mail gets `subject` and `text`, Slack `{"text": text}`, a generic
    webhook `payload` as signed JSON. Returns the HTTP status (None for e-mail); raises `NotificationFailed`."""
    if channel.kind == ChannelKind.EMAIL:
        recipients = [address.strip() for address in channel.target.split(",") if address.strip()]
        try:
            send_mail(subject, text, settings.DEFAULT_FROM_EMAIL, recipients)
        except OSError as exc:
            raise NotificationFailed(f"{type(exc).__name__}: {exc}") from exc
        return None
    if channel.kind == ChannelKind.SLACK:
        return _post(channel.target, json.dumps({"text": text}).encode(), {})
    body = json.dumps(payload, sort_keys=True).encode()
    headers = {SIGNATURE_HEADER: sign(body, channel.secret)} if channel.secret else {}
    return _post(channel.target, body, headers)


def deliver(delivery: Delivery, *, final_attempt: bool) -> None:
    """One attempt at a delivery, recorded on its row. A failure raises `NotificationFailed` (so the task retries)
    unless this was the last attempt, which marks the delivery failed."""
    if not _claim_attempt(delivery):
        return
    try:
        delivery.response_code = send(delivery.channel, delivery.alert)
    except NotificationFailed as exc:
        delivery.error = str(exc)[:2000]
        delivery.status = DeliveryStatus.FAILED if final_attempt else DeliveryStatus.PENDING
        delivery.save(update_fields=["attempts", "error", "status"])
        if not final_attempt:
            raise
        return
    delivery.status, delivery.sent_at, delivery.error = DeliveryStatus.SENT, timezone.now(), ""
    delivery.save(update_fields=["attempts", "response_code", "status", "sent_at", "error"])


def _claim_attempt(delivery: Delivery) -> bool:
    """Take the delivery's next attempt, unless it was sent already or another worker holds this attempt (a delivery
    sent twice to the workers — beat's re-send of one a slow worker had not yet picked up — notifies once)."""
    claimed = Delivery.objects.filter(pk=delivery.pk, status=DeliveryStatus.PENDING, attempts=delivery.attempts).update(
        attempts=delivery.attempts + 1
    )
    delivery.attempts += 1
    return bool(claimed)
