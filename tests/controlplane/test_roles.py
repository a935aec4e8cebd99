"""The four roles exist as groups and grant exactly the capabilities of DESIGN.md's matrix."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group

from controlplane.roles import ROLE_NAMES
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

# capability → the permission that grants it → which roles hold it (DESIGN.md, "Roles")
MATRIX = {
    "read runs": ("workflows.view_flowrun", {"viewer", "operator", "admin", "auditor"}),
    "read deployments": ("workflows.view_deployment", {"viewer", "operator", "admin", "auditor"}),
    "trigger runs": ("workflows.trigger_run", {"operator", "admin"}),
    "cancel runs": ("workflows.cancel_run", {"operator", "admin"}),
    "retry runs": ("workflows.retry_run", {"operator", "admin"}),
    "edit config": ("controlplane.change_orchestrationconfig", {"admin"}),
    "edit schedules": ("django_celery_beat.change_periodictask", {"admin"}),
    "manage users": ("auth.change_user", {"admin"}),
    "manage tokens of others": ("controlplane.manage_all_tokens", {"admin"}),
    "read audit log": ("controlplane.view_auditevent", {"admin", "auditor"}),
    "export audit log": ("controlplane.export_auditevent", {"admin", "auditor"}),
    "verify audit log": ("controlplane.verify_auditevent", {"admin", "auditor"}),
}


def test_the_four_roles_exist_as_groups():
    assert set(Group.objects.filter(name__in=ROLE_NAMES).values_list("name", flat=True)) == set(ROLE_NAMES)


@pytest.mark.parametrize("role", ROLE_NAMES)
@pytest.mark.parametrize("capability", sorted(MATRIX))
def test_role_grants_exactly_the_capabilities_of_the_matrix(role, capability):
    permission, roles = MATRIX[capability]
    user = UserFactory(role=role)
    assert user.has_perm(permission) is (role in roles)


def test_user_without_role_can_do_nothing():
    user = UserFactory()
    assert not any(user.has_perm(permission) for permission, _ in MATRIX.values())
