"""Monitoring in the admin: alert actions through the services for operators and admins (audited), thresholds and
channels saved through the services by admins only, a channel's URL and secret hidden, the test send."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission

from controlplane.audit.models import AuditEvent
from monitoring.models import Alert, NotificationChannel, Threshold
from tests.factories import AlertFactory, NotificationChannelFactory, UserFactory
from tests.graphql_client import client_for

pytestmark = pytest.mark.django_db
ROLES = ("viewer", "operator", "admin", "auditor")
ALERTS_URL = "/admin/monitoring/alert/"


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("action", ["acknowledge", "resolve"])
def test_alert_actions_follow_the_roles_and_are_audited(role, action):
    alert = AlertFactory()
    client = client_for(role)
    response = client.post(ALERTS_URL, {"action": action, "_selected_action": [alert.pk]}, follow=True)
    assert response.status_code == 200
    expected = {"acknowledge": "acknowledged", "resolve": "resolved"}[action]
    if role in ("operator", "admin"):
        assert Alert.objects.get().status == expected
        assert AuditEvent.objects.get(action=f"alert.{action}").outcome == "success"
    else:
        assert Alert.objects.get().status == "firing"  # the action is not offered: Django refuses the post
        assert not AuditEvent.objects.filter(action=f"alert.{action}", outcome="success").exists()


def test_a_user_who_may_only_acknowledge_cannot_resolve_from_the_admin():
    user = UserFactory(role="viewer")
    user.user_permissions.add(Permission.objects.get(codename="acknowledge_alert"))
    alert = AlertFactory()
    client = client_for(None)
    client.force_login(user)
    client.post(ALERTS_URL, {"action": "resolve", "_selected_action": [alert.pk]})
    assert Alert.objects.get().status == "firing"


def _threshold_form(threshold: Threshold, **changes: object) -> dict[str, object]:
    data = {
        "name": threshold.name,
        "metric": threshold.metric,
        "scope": threshold.scope,
        "scope_value": threshold.scope_value,
        "comparison": threshold.comparison,
        "warning_level": threshold.warning_level,
        "critical_level": threshold.critical_level,
        "for_seconds": threshold.for_seconds,
        "enabled": "on",
    }
    data.update(changes)
    return data


@pytest.mark.parametrize("role", ROLES)
def test_only_admins_change_thresholds_in_the_admin(role):
    cpu = Threshold.objects.get(name="CPU")
    url = f"/admin/monitoring/threshold/{cpu.pk}/change/"
    response = client_for(role).post(url, _threshold_form(cpu, warning_level=70))
    if role == "admin":
        assert response.status_code == 302
        assert Threshold.objects.get(pk=cpu.pk).warning_level == 70
        assert AuditEvent.objects.get(action="threshold.update").after == {"warning_level": 70.0}
    else:
        assert response.status_code == 403
        assert Threshold.objects.get(pk=cpu.pk).warning_level == 80


def test_the_admin_form_shows_a_warning_level_beyond_the_critical_as_a_field_error():
    cpu = Threshold.objects.get(name="CPU")
    response = client_for("admin").post(
        f"/admin/monitoring/threshold/{cpu.pk}/change/", _threshold_form(cpu, warning_level=99)
    )
    assert response.status_code == 200
    assert "warning_level" in response.context["adminform"].form.errors
    assert not AuditEvent.objects.filter(action="threshold.update", outcome="success").exists()


def test_admins_add_a_channel_whose_secret_is_never_shown_again():
    response = client_for("admin").post(
        "/admin/monitoring/notificationchannel/add/",
        {"name": "ops", "kind": "webhook", "target": "https://hooks.example.com/x/SECRETPATH", "secret": "k3y",
         "min_severity": "warning", "enabled": "on"},
    )  # fmt: skip
    assert response.status_code == 302, response.context["adminform"].form.errors
    channel = NotificationChannel.objects.get(name="ops")
    assert channel.secret == "k3y"
    event = AuditEvent.objects.get(action="channel.create")
    assert "SECRETPATH" not in str(event.after) and "k3y" not in str(event.after)
    page = client_for("admin").get(f"/admin/monitoring/notificationchannel/{channel.pk}/change/").content.decode()
    assert "k3y" not in page


def test_a_viewer_sees_a_channel_with_its_url_masked():
    channel = NotificationChannelFactory(target="https://hooks.example.com/x/SECRETPATH", secret="k3y")
    page = client_for("viewer").get(f"/admin/monitoring/notificationchannel/{channel.pk}/change/")
    assert page.status_code == 200
    assert "SECRETPATH" not in page.content.decode() and "k3y" not in page.content.decode()
    listing = client_for("viewer").get("/admin/monitoring/notificationchannel/").content.decode()
    assert "SECRETPATH" not in listing


def test_the_send_test_action_posts_to_the_channel(webhook_server):
    channel = NotificationChannelFactory(target=webhook_server.url)
    client_for("admin").post(
        "/admin/monitoring/notificationchannel/", {"action": "send_test", "_selected_action": [channel.pk]}
    )
    assert len(webhook_server.received) == 1
    assert AuditEvent.objects.get(action="channel.test").outcome == "success"


@pytest.mark.parametrize(
    "url",
    [
        "/admin/monitoring/systemsample/",
        "/admin/monitoring/componenthealth/",
        "/admin/monitoring/alert/",
        "/admin/monitoring/threshold/",
        "/admin/monitoring/delivery/",
        "/admin/monitoring/deploymentalertrule/",
    ],
)
def test_every_monitoring_page_opens_for_a_viewer(url):
    AlertFactory()
    assert client_for("viewer").get(url).status_code == 200
