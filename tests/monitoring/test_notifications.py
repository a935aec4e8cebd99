"""Notification channels against a real local HTTP server and Django's locmem e-mail backend: signed webhooks,
Slack's shape, filters, a delivery row per send, retries that end in `failed`."""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import timedelta

import pytest
from django.conf import settings
from django.core import mail
from django.utils import timezone

from monitoring import notify
from monitoring.models import Delivery
from tests.factories import AlertFactory, DeploymentFactory, FlowRunFactory, NotificationChannelFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("eager_celery")]


def test_a_webhook_is_posted_as_json_signed_with_the_channel_secret(webhook_server):
    channel = NotificationChannelFactory(kind="webhook", target=webhook_server.url, secret="k3y")
    alert = AlertFactory(severity="critical", message="CPU on web-1: 97")
    notify.notify_alert(alert)
    [request] = webhook_server.received
    expected = "sha256=" + hmac.new(b"k3y", request.body, hashlib.sha256).hexdigest()
    assert request.headers["X-Signature"] == expected
    assert request.json()["alert"]["subject"] == alert.subject
    delivery = Delivery.objects.get(channel=channel, alert=alert)
    assert (delivery.status, delivery.attempts, delivery.response_code) == ("sent", 1, 200)


def test_slack_gets_a_text_message(webhook_server):
    NotificationChannelFactory(kind="slack", target=webhook_server.url, secret="")
    notify.notify_alert(AlertFactory(message="memory on web-1: 91"))
    [request] = webhook_server.received
    body = json.loads(request.body)
    assert list(body) == ["text"] and "memory on web-1: 91" in body["text"]


def test_email_goes_through_django_s_email_backend(settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    NotificationChannelFactory(kind="email", target="ops@example.com, oncall@example.com", secret="")
    notify.notify_alert(AlertFactory(severity="critical", subject="host:web-1"))
    [message] = mail.outbox
    assert message.to == ["ops@example.com", "oncall@example.com"]
    assert "host:web-1" in message.subject


def test_channels_below_their_minimum_severity_or_outside_their_filters_get_nothing(webhook_server):
    NotificationChannelFactory(target=webhook_server.url, min_severity="critical")
    NotificationChannelFactory(target=webhook_server.url, deployment_filter="etl/hourly")
    NotificationChannelFactory(target=webhook_server.url, tag_filter="prod")
    NotificationChannelFactory(target=webhook_server.url, enabled=False)
    notify.notify_alert(AlertFactory(severity="warning"))
    assert webhook_server.received == []


def test_deployment_and_tag_filters_match_an_alert_about_a_run(webhook_server):
    deployment = DeploymentFactory(name="hourly", flow__name="etl")
    run = FlowRunFactory(deployment=deployment, tags=["prod"], state_type="FAILED")
    NotificationChannelFactory(target=webhook_server.url, deployment_filter="etl/hourly", tag_filter="prod")
    notify.notify_alert(AlertFactory(flow_run=run, subject=f"run:{run.prefect_id}"))
    assert len(webhook_server.received) == 1


def test_a_failing_endpoint_is_retried_then_the_delivery_is_marked_failed(webhook_server):
    webhook_server.status_code = 500
    channel = NotificationChannelFactory(target=webhook_server.url)
    notify.notify_alert(AlertFactory())
    delivery = Delivery.objects.get(channel=channel)
    assert delivery.status == "failed"
    assert delivery.attempts == len(webhook_server.received) > 1
    assert "HTTP 500" in delivery.error


def test_the_masked_target_never_shows_the_url_path_or_secret():
    channel = NotificationChannelFactory(kind="slack", target="https://hooks.slack.com/services/T0/B0/XYZ")
    assert notify.masked_target(channel) == "https://hooks.slack.com/••••••••"


def test_deliveries_stored_while_the_broker_is_down_are_sent_by_the_sweep_once(webhook_server, monkeypatch, caplog):
    """The broker refusing the send (what kombu raises for a broker that is down) leaves the deliveries pending with
    one warning; beat's sweep sends them once the broker is back, and a delivery sent to the workers twice notifies
    once. tests/workflows/test_broker_outage.py proves the same path with a real redis-server."""
    from kombu.exceptions import OperationalError

    from monitoring import tasks

    NotificationChannelFactory(target=webhook_server.url)
    NotificationChannelFactory(target=webhook_server.url)
    down = OperationalError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")
    with monkeypatch.context() as broker_down:
        broker_down.setattr(tasks.deliver_notification, "delay", lambda *args: (_ for _ in ()).throw(down))
        deliveries = notify.notify_alert(AlertFactory(message="disk on db-1: 97"))
    assert "stay pending: the broker is unreachable" in caplog.text
    assert webhook_server.received == []

    assert notify.redispatch_stalled_deliveries() == []  # not yet REQUEUE_SECONDS old
    Delivery.objects.update(created_at=timezone.now() - timedelta(seconds=settings.REQUEUE_SECONDS + 1))
    assert sorted(notify.redispatch_stalled_deliveries()) == sorted(d.pk for d in deliveries)
    assert len(webhook_server.received) == 2
    assert set(Delivery.objects.values_list("status", "attempts")) == {("sent", 1)}

    for delivery in deliveries:  # a second copy of each task, delivered late: nothing is sent again
        tasks.deliver_notification.delay(delivery.pk)
    assert len(webhook_server.received) == 2
    assert notify.redispatch_stalled_deliveries() == []
