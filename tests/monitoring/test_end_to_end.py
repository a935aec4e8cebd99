"""From a real host sample to a webhook and back: lower the CPU threshold below the current value → the evaluation
raises an alert → the local webhook receives exactly one POST; the next evaluation within the cooldown sends none;
acknowledging and then raising the threshold resolves it, and the channel hears that too; every step is in the
audit log."""

from __future__ import annotations

import pytest

from controlplane.audit.actor import Actor
from controlplane.audit.chain import verify_chain
from controlplane.audit.models import AuditEvent
from monitoring import configuration, services
from monitoring.models import Alert, Delivery, Threshold
from monitoring.tasks import sample_host
from tests.factories import UserFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("eager_celery")]


def test_a_threshold_crossing_reaches_the_webhook_once_and_resolves_after_the_threshold_is_raised(
    webhook_server, settings
):
    settings.ALERT_RENOTIFY_SECONDS = 3600
    admin = Actor(user=UserFactory(role="admin"))
    operator = Actor(user=UserFactory(role="operator"))
    Threshold.objects.exclude(name="CPU").update(enabled=False)
    cpu = Threshold.objects.get(name="CPU")
    configuration.create_channel(
        admin, {"name": "ops", "kind": "webhook", "target": webhook_server.url, "secret": "k3y"}
    )
    configuration.update_threshold(admin, cpu, {"warning_level": -1, "critical_level": 1000})

    sample_host()
    alert = Alert.objects.get()
    assert (alert.rule, alert.status, alert.severity) == (cpu.rule_key, "firing", "warning")
    assert len(webhook_server.received) == 1
    assert webhook_server.received[0].json()["alert"]["id"] == alert.pk

    sample_host()  # within the cooldown: updated, not notified again
    assert len(webhook_server.received) == 1
    assert Alert.objects.count() == 1 and Delivery.objects.get().status == "sent"

    services.acknowledge_alert(operator, alert)
    configuration.update_threshold(admin, cpu, {"warning_level": 1000, "critical_level": 1000})
    sample_host()
    alert.refresh_from_db()
    assert alert.status == "resolved" and alert.acknowledged_by is not None
    # The channel told it fired is told it is over: one more POST, saying so.
    assert len(webhook_server.received) == 2
    resolved = webhook_server.received[1].json()
    assert resolved["alert"]["id"] == alert.pk and resolved["alert"]["status"] == "resolved"
    assert resolved["text"].startswith("[RESOLVED]")

    actions = list(AuditEvent.objects.order_by("id").values_list("action", "actor_label", "outcome"))
    assert actions == [
        ("channel.create", admin.label, "success"),
        ("threshold.update", admin.label, "success"),
        ("alert.raise", "system", "success"),
        ("alert.acknowledge", operator.label, "success"),
        ("threshold.update", admin.label, "success"),
        ("alert.resolve", "system", "success"),
    ]
    assert verify_chain().ok
