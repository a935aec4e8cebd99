"""Beat schedule changes — edits, enable/disable, deletes, "run now" — go through the schedules service and are in
the audit log; a role without the permission is refused, and the refusal is audited."""

from __future__ import annotations

import pytest
from django.test import Client
from django_celery_beat.models import IntervalSchedule, PeriodicTask, PeriodicTasks

from controlplane.audit.actor import Actor
from controlplane.audit.models import AuditEvent
from controlplane.exceptions import PermissionDeniedError
from controlplane.schedules import services
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

CHANGELIST = "/admin/django_celery_beat/periodictask/"


@pytest.fixture
def sync_task() -> PeriodicTask:
    """The mirror's sync schedule, as the workflows migration creates it."""
    return PeriodicTask.objects.get(name="Sync Prefect mirror")


def _admin_client(role: str = "admin") -> Client:
    client = Client()
    client.force_login(UserFactory(role=role))
    return client


def test_switching_the_sync_off_in_the_admin_is_audited_and_reaches_beat(sync_task):
    changed_before = PeriodicTasks.last_change()
    response = _admin_client().post(CHANGELIST, {"action": "disable_tasks", "_selected_action": [sync_task.pk]})
    assert response.status_code == 302
    sync_task.refresh_from_db()
    assert not sync_task.enabled
    [event] = AuditEvent.objects.filter(action="schedule.update")
    assert (event.target_id, event.before, event.after) == (str(sync_task.pk), {"enabled": True}, {"enabled": False})
    assert PeriodicTasks.last_change() != changed_before  # beat reloads its schedule


def test_an_edited_interval_is_audited_with_what_changed(sync_task):
    actor = Actor(user=UserFactory(role="admin"))
    before = services.snapshot_of_stored(sync_task.pk)
    sync_task.interval = IntervalSchedule.objects.create(every=300, period=IntervalSchedule.SECONDS)
    services.save_periodic_task(actor, sync_task, before)
    [event] = AuditEvent.objects.filter(action="schedule.update")
    assert set(event.after) == {"schedule"} and "300" in event.after["schedule"]
    assert event.before["schedule"] != event.after["schedule"]


def test_deleting_and_running_a_schedule_are_audited(sync_task):
    client = _admin_client()
    client.post(CHANGELIST, {"action": "run_tasks", "_selected_action": [sync_task.pk]})
    client.post(CHANGELIST, {"action": "delete_selected", "_selected_action": [sync_task.pk], "post": "yes"})
    assert not PeriodicTask.objects.filter(pk=sync_task.pk).exists()
    actions = list(AuditEvent.objects.order_by("id").values_list("action", flat=True))
    assert actions[-2:] == ["schedule.run", "schedule.delete"]
    assert AuditEvent.objects.get(action="schedule.delete").before["task"] == "workflows.sync_prefect_mirror"


@pytest.mark.parametrize("role", ["viewer", "operator", "auditor"])
def test_other_roles_cannot_change_schedules(role, sync_task):
    response = _admin_client(role).post(CHANGELIST, {"action": "disable_tasks", "_selected_action": [sync_task.pk]})
    assert response.status_code == 403
    with pytest.raises(PermissionDeniedError):
        services.set_enabled(Actor(user=UserFactory(role=role)), [sync_task], False)
    sync_task.refresh_from_db()
    assert sync_task.enabled
    assert AuditEvent.objects.filter(action="schedule.update", outcome="denied").count() == 1
