"""`daily_digest`: yesterday's runs, failures, open alerts and health, sent to the notification channels (Slack,
signed webhook, e-mail; monitoring/notify.py). Each channel is tried on its own, with retries; the run fails when a
channel still could not be reached, after every channel was tried."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from typing import Any

from django.utils import timezone
from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE
from prefect.tasks import exponential_backoff

from flows.alerting import alert_on_failure
from monitoring import notify
from monitoring.digest import build_digest, digest_channels, digest_text
from monitoring.models import NotificationChannel


class DigestNotDelivered(RuntimeError):
    """At least one channel could not be reached."""


@task(cache_policy=NO_CACHE)
def collect(start: datetime, end: datetime) -> dict[str, Any]:
    return build_digest(start, end)


SEND_RETRY_POLICY: dict[str, Any] = {
    "retries": 2,
    "retry_delay_seconds": exponential_backoff(backoff_factor=5),
    "retry_jitter_factor": 0.3,
    "cache_policy": NO_CACHE,
}


@task(**SEND_RETRY_POLICY)
def send_to_channel(channel: NotificationChannel, digest: dict[str, Any]) -> int | None:
    subject = f"Control plane daily digest, {digest['start'][:10]}"
    return notify.send_message(channel, subject, digest_text(digest), {"text": digest_text(digest), "digest": digest})


@flow(name="daily_digest", on_failure=[alert_on_failure])
def daily_digest(days_ago: int = 1, channel: str = "") -> dict[str, Any]:
    """Send the digest of the UTC day `days_ago` days back (1: yesterday) to every enabled channel that takes all
    alerts (no filters), or only to the channel named `channel`."""
    today = datetime.combine(timezone.now().astimezone(UTC).date(), time.min, tzinfo=UTC)
    start = today - timedelta(days=days_ago)
    digest = collect(start, start + timedelta(days=1))
    channels = digest_channels(channel)
    sent, failed = [], []
    for target in channels:
        state = send_to_channel(target, digest, return_state=True)
        (sent if state.is_completed() else failed).append(target.name)
    get_run_logger().info("digest of %s sent to %s; failed: %s", start.date(), sent, failed)
    if failed:
        raise DigestNotDelivered(f"the digest could not be sent to {', '.join(failed)} (sent to {len(sent)})")
    return {"digest": digest, "sent": sent}
