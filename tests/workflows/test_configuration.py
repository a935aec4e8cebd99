"""The orchestration configuration: admins only, every change audited with before/after, the concurrency cap pushed
to Prefect's own deployment limits, and the environment shown with secrets masked."""

from __future__ import annotations

import pytest
from django.test import Client

from controlplane.audit.actor import Actor
from controlplane.audit.models import AuditEvent
from controlplane.environment import MASK, masked
from controlplane.exceptions import InvalidInput, PermissionDeniedError
from tests.factories import UserFactory
from tests.workflows.real_runs import ROLES, mirrored_deployments
from workflows import prefect_api
from workflows.configuration import update_config
from workflows.models import OrchestrationConfig
from workflows.services import deployment_concurrency_limit

pytestmark = pytest.mark.django_db
CONFIG_URL = "/admin/workflows/orchestrationconfig/1/change/"


def _form(config: OrchestrationConfig, **changes: object) -> dict[str, object]:
    data = {
        "max_concurrent_runs": config.max_concurrent_runs,
        "retry_attempts": config.retry_attempts,
        "health_check_interval_seconds": config.health_check_interval_seconds,
        "default_timeout_seconds": config.default_timeout_seconds,
        "monitoring_enabled": "on" if config.monitoring_enabled else "",
        "auto_recovery_enabled": "on" if config.auto_recovery_enabled else "",
    }
    data.update(changes)
    return {key: value for key, value in data.items() if value != ""}


def test_defaults():
    config = OrchestrationConfig.load()
    assert (config.max_concurrent_runs, config.retry_attempts) == (5, 3)


@pytest.mark.parametrize("role", [*ROLES, "anonymous"])
def test_only_admins_change_the_configuration_and_every_attempt_is_audited(role):
    from django.contrib.auth.models import AnonymousUser

    user = AnonymousUser() if role == "anonymous" else UserFactory(role=role)
    if role == "admin":
        update_config(Actor(user=user), {"retry_attempts": 4})
        assert OrchestrationConfig.load().retry_attempts == 4
        event = AuditEvent.objects.get(action="config.update")
        assert (event.outcome, event.before, event.after) == ("success", {"retry_attempts": 3}, {"retry_attempts": 4})
    else:
        with pytest.raises(PermissionDeniedError):
            update_config(Actor(user=user), {"retry_attempts": 4})
        assert OrchestrationConfig.load().retry_attempts == 3
        assert AuditEvent.objects.get(action="config.update").outcome == "denied"


def test_invalid_values_are_refused_per_field():
    admin = Actor(user=UserFactory(role="admin"))
    with pytest.raises(InvalidInput) as excinfo:
        update_config(admin, {"max_concurrent_runs": 0, "retry_attempts": -1, "colour": "red"})
    assert set(excinfo.value.field_errors) == {"max_concurrent_runs", "retry_attempts", "colour"}
    assert AuditEvent.objects.get(action="config.update").outcome == "error"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("retry_attempts", 12473),  # found by fuzzing: any integer used to be accepted
        ("health_check_interval_seconds", 1021923),
        ("health_check_interval_seconds", 5),
        ("max_concurrent_runs", 1001),
        ("default_timeout_seconds", 0),
        ("default_timeout_seconds", 7 * 86_400 + 1),
    ],
)
def test_values_out_of_range_are_refused_with_the_range_in_the_field_message(field, value):
    admin = Actor(user=UserFactory(role="admin"))
    with pytest.raises(InvalidInput) as excinfo:
        update_config(admin, {field: value})
    (message,) = excinfo.value.field_errors[field]
    assert "less than or equal to" in message or "greater than or equal to" in message
    assert getattr(OrchestrationConfig.load(), field) != value


def test_values_at_the_ends_of_the_ranges_are_accepted(prefect_server):  # the interval goes to Prefect too
    admin = Actor(user=UserFactory(role="admin"))
    update_config(admin, {"retry_attempts": 10, "health_check_interval_seconds": 86_400, "default_timeout_seconds": 1})
    config = OrchestrationConfig.load()
    assert (config.retry_attempts, config.health_check_interval_seconds, config.default_timeout_seconds) == (
        10,
        86_400,
        1,
    )


@pytest.mark.prefect
def test_changed_cap_is_pushed_to_prefects_deployment_limits(served_flows):
    deployments = mirrored_deployments()
    update_config(Actor(user=UserFactory(role="admin")), {"max_concurrent_runs": 2})
    for deployment in deployments.values():
        assert deployment_concurrency_limit(prefect_api.read_deployment(deployment.prefect_id)) == 2
        deployment.refresh_from_db()
        assert deployment.concurrency_limit == 2


def test_admin_change_form_goes_through_the_service(prefect_server):  # the interval goes to Prefect too
    client = Client()
    client.force_login(UserFactory(role="admin"))
    config = OrchestrationConfig.load()
    response = client.post(CONFIG_URL, _form(config, health_check_interval_seconds=120, monitoring_enabled=""))
    assert response.status_code == 302, response.content[:1500]
    config.refresh_from_db()
    assert (config.health_check_interval_seconds, config.monitoring_enabled) == (120, False)
    event = AuditEvent.objects.get(action="config.update")
    assert event.before == {"health_check_interval_seconds": 60, "monitoring_enabled": True}
    assert event.after == {"health_check_interval_seconds": 120, "monitoring_enabled": False}


@pytest.mark.parametrize("role", ["viewer", "operator", "auditor"])
def test_other_roles_only_view_the_configuration(role):
    client = Client()
    client.force_login(UserFactory(role=role))
    config = OrchestrationConfig.load()
    assert client.get(CONFIG_URL).status_code == 200
    assert client.post(CONFIG_URL, _form(config, retry_attempts=9)).status_code == 403
    assert OrchestrationConfig.load().retry_attempts == 3


def test_environment_is_shown_with_secrets_masked(monkeypatch):
    monkeypatch.setenv("DATABASE_URL", "postgres://cp:hunter2-db@db.internal:5432/cp")
    monkeypatch.setenv("SECRET_KEY", "super-secret-signing-key")
    monkeypatch.setenv("PREFECT_API_AUTH_STRING", "admin:hunter2-prefect")
    monkeypatch.setenv("SYNC_INTERVAL_SECONDS", "30")
    OrchestrationConfig.load()
    client = Client()
    client.force_login(UserFactory(role="admin"))
    page = client.get(CONFIG_URL).content.decode()
    for secret in ("hunter2-db", "super-secret-signing-key", "hunter2-prefect"):
        assert secret not in page
    assert "postgres://cp:" in page and "db.internal:5432/cp" in page
    assert "SYNC_INTERVAL_SECONDS" in page and ">30<" in page
    assert page.count(MASK) >= 3


def test_masking_rules():
    assert masked("AUDIT_HMAC_KEY", "k") == MASK
    assert masked("CELERY_BROKER_URL", "redis://:pw@127.0.0.1:6379/0") == "redis://127.0.0.1:6379/0"
    assert masked("PREFECT_API_URL", "http://127.0.0.1:4200/api") == "http://127.0.0.1:4200/api"
    assert masked("SECRET_KEY", "") == ""
