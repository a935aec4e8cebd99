"""The four roles exist as groups and grant exactly the capabilities of the matrix in docs/architecture.md."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from django.conf import settings
from django.contrib.auth.models import Group

from controlplane.access.roles import ROLE_NAMES
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

# capability → the permission that grants it → which roles hold it (docs/architecture.md, "Roles")
MATRIX = {
    "read runs": ("workflows.view_flowrun", {"viewer", "operator", "admin", "auditor"}),
    "read deployments": ("workflows.view_deployment", {"viewer", "operator", "admin", "auditor"}),
    "trigger runs": ("workflows.trigger_run", {"operator", "admin"}),
    "cancel runs": ("workflows.cancel_run", {"operator", "admin"}),
    "retry runs": ("workflows.retry_run", {"operator", "admin"}),
    "edit config": ("workflows.change_orchestrationconfig", {"admin"}),
    "edit schedules": ("django_celery_beat.change_periodictask", {"admin"}),
    "manage users": ("auth.change_user", {"admin"}),
    "manage tokens of others": ("controlplane.manage_all_tokens", {"admin"}),
    "read audit log": ("controlplane.view_auditevent", {"admin", "auditor"}),
    "export audit log": ("controlplane.export_auditevent", {"admin", "auditor"}),
    "verify audit log": ("controlplane.verify_auditevent", {"admin", "auditor"}),
    "read alerts": ("monitoring.view_alert", {"viewer", "operator", "admin", "auditor"}),
    "read system samples": ("monitoring.view_systemsample", {"viewer", "operator", "admin", "auditor"}),
    "read thresholds": ("monitoring.view_threshold", {"viewer", "operator", "admin", "auditor"}),
    "read channels": ("monitoring.view_notificationchannel", {"viewer", "operator", "admin", "auditor"}),
    "acknowledge alerts": ("monitoring.acknowledge_alert", {"operator", "admin"}),
    "resolve alerts": ("monitoring.resolve_alert", {"operator", "admin"}),
    "change thresholds": ("monitoring.change_threshold", {"admin"}),
    "add thresholds": ("monitoring.add_threshold", {"admin"}),
    "change channels": ("monitoring.change_notificationchannel", {"admin"}),
    "add channels": ("monitoring.add_notificationchannel", {"admin"}),
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


COUNT_GRANTED_ROLES = (
    "from django.contrib.auth.models import Group; "
    "print(Group.objects.filter(permissions__isnull=False).distinct().count())"
)


def test_a_partial_migrate_on_an_empty_database_defers_the_roles_to_the_full_migrate(tmp_path):
    """`migrate workflows 0005` on a new database runs before auth/contenttypes exist; it must not crash."""
    env = {
        **{k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG")},
        "DJANGO_SETTINGS_MODULE": "controlplane.settings",
        "VAR_DIR": str(tmp_path),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'partial.sqlite3'}",
    }

    def manage(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=settings.BASE_DIR,
            env=env,
            capture_output=True,
            text=True,
            timeout=180,
        )

    partial = manage("migrate", "workflows", "0005")
    assert partial.returncode == 0, partial.stderr
    assert manage("migrate").returncode == 0
    granted = manage("shell", "-c", COUNT_GRANTED_ROLES)
    assert granted.stdout.strip().splitlines()[-1] == "4", granted.stderr
