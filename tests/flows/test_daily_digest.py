"""`daily_digest`: yesterday's runs, failures, open alerts and health reach every general channel — Slack and a
signed webhook (a local HTTP server records them) and e-mail (Django's test outbox); a filtered channel gets none; an
unreachable channel fails the run (and raises the flow-failed alert) once the others have it."""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import UTC, datetime, time, timedelta

import pytest
from django.core import mail
from django.utils import timezone

from controlplane.devstack.processes import free_port
from flows.alerting import FLOW_FAILED_RULE
from flows.daily_digest import daily_digest
from monitoring.models import Alert, ComponentHealth
from tests.factories import AlertFactory, DeploymentFactory, FlowRunFactory, NotificationChannelFactory

pytestmark = pytest.mark.prefect


def test_yesterdays_digest_reaches_slack_the_signed_webhook_and_email(run_flow, webhook_server):
    yesterday_noon = datetime.combine(timezone.now().astimezone(UTC).date(), time(12), tzinfo=UTC) - timedelta(days=1)
    deployment = DeploymentFactory(name="nightly-export")
    FlowRunFactory(deployment=deployment, end_time=yesterday_noon, state_type="FAILED", state_message="disk full")
    FlowRunFactory.create_batch(3, deployment=deployment, end_time=yesterday_noon)
    FlowRunFactory(deployment=deployment, end_time=yesterday_noon - timedelta(days=2))  # not yesterday
    AlertFactory(severity="critical", message="CPU on db-1: 97")
    now = timezone.now()
    ComponentHealth.objects.create(component="database", status="ok", since=now, checked_at=now)
    ComponentHealth.objects.create(component="broker", status="down", since=now, checked_at=now)
    NotificationChannelFactory(name="slack", kind="slack", target=webhook_server.url + "/slack")
    NotificationChannelFactory(name="hook", kind="webhook", target=webhook_server.url + "/json", secret="s3cret")
    NotificationChannelFactory(name="ops mail", kind="email", target="ops@example.com")
    NotificationChannelFactory(name="one job only", target=webhook_server.url + "/filtered", deployment_filter="x/y")

    result, run = run_flow(daily_digest)

    assert run["state_type"] == "COMPLETED", run["state"]
    assert sorted(result["sent"]) == ["hook", "ops mail", "slack"]
    received = {request.path.rsplit("/", 1)[-1]: request for request in webhook_server.received}
    assert set(received) == {"slack", "json"}
    slack_text = received["slack"].json()["text"]
    assert "4 runs finished (3 completed, 1 failed)" in slack_text and "disk full" in slack_text
    assert "Open alerts: 1 (1 critical)" in slack_text and "Components not ok: broker." in slack_text
    hook = received["json"]
    expected = "sha256=" + hmac.new(b"s3cret", hook.body, hashlib.sha256).hexdigest()
    assert hook.headers["X-Signature"] == expected
    digest = json.loads(hook.body)["digest"]
    assert digest["runs"] == {"total": 4, "completed": 3, "failed": 1}
    assert digest["health"]["components"] == {"broker": "down", "database": "ok"}
    (email,) = mail.outbox
    assert email.to == ["ops@example.com"] and email.subject.startswith("Control plane daily digest")


def test_an_unreachable_channel_fails_the_run_after_the_others_got_the_digest(run_flow, webhook_server):
    NotificationChannelFactory(name="dead hook", kind="webhook", target=f"http://127.0.0.1:{free_port()}/hook")
    NotificationChannelFactory(name="slack", kind="slack", target=webhook_server.url)

    _, run = run_flow(daily_digest)

    assert run["state_type"] == "FAILED" and "dead hook" in run["state"]["message"], run["state"]
    assert len(webhook_server.received) == 1  # Slack got it, once
    alert = Alert.objects.get(rule=FLOW_FAILED_RULE, subject="flow:daily_digest")
    assert alert.severity == "critical" and "could not be sent to dead hook" in alert.message
