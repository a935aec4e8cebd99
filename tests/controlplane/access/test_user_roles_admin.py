"""Admins give users their roles in the user admin; the change is written to the audit log with before/after."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group
from django.test import Client

from controlplane.audit.models import AuditEvent
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def _change_form_data(client: Client, url: str) -> dict[str, object]:
    form = client.get(url).context["adminform"].form
    data: dict[str, object] = {}
    for name, field in form.fields.items():
        if field.disabled:
            continue
        value = form.initial.get(name, field.initial)
        if value in (None, False):
            continue
        if name in ("groups", "user_permissions"):
            data[name] = [getattr(item, "pk", item) for item in value]
        elif name in ("last_login", "date_joined"):
            data[f"{name}_0"], data[f"{name}_1"] = value.strftime("%Y-%m-%d"), value.strftime("%H:%M:%S")
        else:
            data[name] = "on" if value is True else value
    return data


def test_admin_grants_a_role_and_it_is_audited():
    user = UserFactory(role="viewer")
    client = Client()
    client.force_login(UserFactory(role="admin"))
    url = f"/admin/auth/user/{user.pk}/change/"
    data = _change_form_data(client, url)
    data["groups"] = [Group.objects.get(name="operator").pk]

    response = client.post(url, data)

    assert response.status_code == 302, response.context["adminform"].form.errors
    assert list(user.groups.values_list("name", flat=True)) == ["operator"]
    event = AuditEvent.objects.get(action="user.access_changed")
    assert (event.before["roles"], event.after["roles"]) == (["viewer"], ["operator"])
    assert user.has_perm("workflows.trigger_run")


@pytest.mark.parametrize("role", ["viewer", "operator", "auditor"])
def test_only_admins_manage_users(role):
    client = Client()
    client.force_login(UserFactory(role=role))
    assert client.get("/admin/auth/user/").status_code == 403
