"""A database created before the rooms were split (OrchestrationConfig in the controlplane app) upgrades in place:
every row intact, the configuration row readable from its new app, the permissions on it still held by whoever held
them, and the audit chain still verifying (docs/architecture.md, "Upgrading a database")."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group, Permission
from django.contrib.contenttypes.models import ContentType
from django.core.management import call_command
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from controlplane.access.services import create_api_token
from controlplane.audit.actor import Actor
from controlplane.audit.chain import record_audit_event, verify_chain
from controlplane.audit.models import AuditEvent
from tests.factories import FlowRunFactory, UserFactory
from workflows.models import FlowRun, OrchestrationConfig

pytestmark = pytest.mark.django_db(transaction=True)

FLAT_LAYOUT = [("controlplane", "0003_audit_append_only_trigger"), ("workflows", "0007_partial_parent_indexes")]


def _migrate_back_to_flat_layout() -> MigrationExecutor:
    """The schema and content types as the flat layout had them (no post-migrate signal: none ran back then)."""
    executor = MigrationExecutor(connection)
    executor.migrate(FLAT_LAYOUT)
    return executor


def test_a_flat_layout_database_upgrades_with_every_row_intact():
    admin = UserFactory(username="ada", role="admin")
    clerk = UserFactory(username="clerk")
    create_api_token(Actor.for_user(admin), admin, "ci")
    runs = FlowRunFactory.create_batch(3)
    for n in range(5):
        record_audit_event(Actor.for_user(admin), "test.event", target_type="thing", target_id=n, after={"n": n})
    events_before = list(AuditEvent.objects.order_by("id").values_list("id", "hash"))

    executor = _migrate_back_to_flat_layout()
    old_apps = executor.loader.project_state(FLAT_LAYOUT).apps
    old_config = old_apps.get_model("controlplane", "OrchestrationConfig")
    old_config.objects.create(pk=1, max_concurrent_runs=7, retry_attempts=2, monitoring_enabled=False)
    config_type = ContentType.objects.get(app_label="controlplane", model="orchestrationconfig")
    change_config = Permission.objects.get(content_type=config_type, codename="change_orchestrationconfig")
    clerk.user_permissions.add(change_config)  # a permission held directly, not through a role

    call_command("migrate", verbosity=0)

    config = OrchestrationConfig.objects.get(pk=1)
    assert (config.max_concurrent_runs, config.retry_attempts, config.monitoring_enabled) == (7, 2, False)
    assert ContentType.objects.filter(model="orchestrationconfig").count() == 1
    assert Permission.objects.get(pk=change_config.pk).content_type.app_label == "workflows"
    clerk = type(clerk).objects.get(pk=clerk.pk)
    assert clerk.has_perm("workflows.change_orchestrationconfig")
    assert Group.objects.get(name="admin").permissions.filter(pk=change_config.pk).exists()
    assert set(FlowRun.objects.values_list("pk", flat=True)) == {run.pk for run in runs}
    assert admin.api_tokens.get().name == "ci"
    assert list(AuditEvent.objects.order_by("id").values_list("id", "hash")) == events_before
    result = verify_chain()
    assert result.ok, result.problem
    assert result.checked == len(events_before)
