"""Alert and threshold services: who may acknowledge, resolve and change thresholds (the role matrix), validation
with field messages, the system's own raising and resolving, and every step in the audit log."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import AnonymousUser

from controlplane.audit.actor import Actor
from controlplane.audit.models import AuditEvent
from controlplane.exceptions import InvalidInput, OperationNotAllowed, PermissionDeniedError
from monitoring import configuration, services
from monitoring.evaluation import evaluate_samples
from monitoring.models import Alert, Threshold
from tests.factories import (
    AlertFactory,
    DeploymentFactory,
    FlowRunFactory,
    SystemSampleFactory,
    UserFactory,
)

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("eager_celery")]
ROLES = ("viewer", "operator", "admin", "auditor", "anonymous")
MAY_HANDLE_ALERTS = {"operator", "admin"}


def _actor(role: str) -> Actor:
    return Actor(user=AnonymousUser() if role == "anonymous" else UserFactory(role=role))


@pytest.mark.parametrize("role", ROLES)
def test_only_operators_and_admins_acknowledge_alerts_and_every_attempt_is_audited(role):
    alert = AlertFactory()
    if role in MAY_HANDLE_ALERTS:
        services.acknowledge_alert(_actor(role), alert)
        alert.refresh_from_db()
        assert (alert.status, alert.acknowledged_by.groups.get().name) == ("acknowledged", role)
    else:
        with pytest.raises(PermissionDeniedError):
            services.acknowledge_alert(_actor(role), alert)
        assert Alert.objects.get(pk=alert.pk).status == "firing"
    event = AuditEvent.objects.get(action="alert.acknowledge")
    assert event.outcome == ("success" if role in MAY_HANDLE_ALERTS else "denied")
    assert event.target_id == str(alert.pk)


@pytest.mark.parametrize("role", ROLES)
def test_only_operators_and_admins_resolve_alerts(role):
    alert = AlertFactory(status="acknowledged")
    if role in MAY_HANDLE_ALERTS:
        services.resolve_alert(_actor(role), alert)
        assert Alert.objects.get(pk=alert.pk).status == "resolved"
    else:
        with pytest.raises(PermissionDeniedError):
            services.resolve_alert(_actor(role), alert)
    outcome = AuditEvent.objects.get(action="alert.resolve").outcome
    assert outcome == ("success" if role in MAY_HANDLE_ALERTS else "denied")


def test_a_resolved_alert_cannot_be_acknowledged_or_resolved_again():
    alert = AlertFactory(status="resolved")
    operator = _actor("operator")
    with pytest.raises(OperationNotAllowed):
        services.acknowledge_alert(operator, alert)
    with pytest.raises(OperationNotAllowed):
        services.resolve_alert(operator, alert)
    assert set(AuditEvent.objects.values_list("outcome", flat=True)) == {"error"}


@pytest.mark.parametrize("role", ROLES)
def test_only_admins_change_thresholds(role):
    threshold = Threshold.objects.get(name="CPU")
    if role == "admin":
        configuration.update_threshold(_actor(role), threshold, {"warning_level": 70})
        event = AuditEvent.objects.get(action="threshold.update")
        assert (event.before, event.after) == ({"warning_level": 80.0}, {"warning_level": 70.0})
    else:
        with pytest.raises(PermissionDeniedError):
            configuration.update_threshold(_actor(role), threshold, {"warning_level": 70})
        assert Threshold.objects.get(name="CPU").warning_level == 80
        assert AuditEvent.objects.get(action="threshold.update").outcome == "denied"


@pytest.mark.parametrize(
    ("values", "field"),
    [
        ({"comparison": ">", "warning_level": 96, "critical_level": 95}, "warning_level"),
        ({"comparison": "<", "warning_level": 4, "critical_level": 5}, "warning_level"),
        ({"for_seconds": -5}, "for_seconds"),
        ({"metric": "cpu_temperature"}, "metric"),
        ({"metric": "cpu_percent", "scope": "deployment"}, "scope"),
        ({"colour": "red"}, "colour"),
    ],
)
def test_invalid_thresholds_are_refused_with_field_messages(values, field):
    base = {"name": "new", "metric": "cpu_percent", "warning_level": 1, "critical_level": 2}
    with pytest.raises(InvalidInput) as refused:
        configuration.create_threshold(_actor("admin"), {**base, **values})
    assert field in refused.value.field_errors
    assert not Threshold.objects.filter(name="new").exists()
    assert AuditEvent.objects.get(action="threshold.create").outcome == "error"


def test_admins_create_thresholds_audited():
    threshold = configuration.create_threshold(
        _actor("admin"), {"name": "Swap", "metric": "swap_percent", "warning_level": 50, "critical_level": 90}
    )
    event = AuditEvent.objects.get(action="threshold.create")
    assert (event.target_id, event.after["metric"]) == (str(threshold.pk), "swap_percent")


def test_evaluation_raises_one_alert_per_subject_and_resolves_it_below_the_warning_level():
    Threshold.objects.exclude(name="CPU").update(enabled=False)
    evaluate_samples([SystemSampleFactory(host="web-1", cpu_percent=97)])
    evaluate_samples([SystemSampleFactory(host="web-1", cpu_percent=96)])
    alert = Alert.objects.get()
    assert (alert.subject, alert.severity, alert.status, alert.peak_value) == ("host:web-1", "critical", "firing", 97)
    evaluate_samples([SystemSampleFactory(host="web-1", cpu_percent=85)])
    assert Alert.objects.get().status == "firing"  # hysteresis: between warning and critical it stays open
    evaluate_samples([SystemSampleFactory(host="web-1", cpu_percent=60)])
    assert Alert.objects.get().status == "resolved"
    events = AuditEvent.objects.order_by("id").values_list("action", "actor_label")
    assert list(events) == [("alert.raise", "system"), ("alert.resolve", "system")]


def test_a_for_duration_holds_the_alert_back_until_it_has_lasted(settings):
    from datetime import timedelta

    from django.utils import timezone

    Threshold.objects.exclude(name="CPU").update(enabled=False)
    Threshold.objects.filter(name="CPU").update(for_seconds=300)
    services.apply_observations(_cpu_observations(97))
    assert not Alert.objects.exists()
    services.apply_observations(_cpu_observations(97), now=timezone.now() + timedelta(seconds=301))
    assert Alert.objects.get().severity == "critical"


def _cpu_observations(value: float):
    from monitoring.observations import system_observations

    return system_observations(Threshold.objects.filter(name="CPU"), [SystemSampleFactory(cpu_percent=value)])


def test_a_failed_run_of_a_watched_deployment_raises_one_alert_naming_the_run():
    from django.utils import timezone

    from monitoring.models import DeploymentAlertRule

    watched = DeploymentFactory()
    DeploymentAlertRule.objects.create(deployment=watched, alert_on_failure=True)
    services.alert_on_failed_runs()  # sets the cursor
    run = FlowRunFactory(deployment=watched, state_type="FAILED", state_name="Failed", end_time=timezone.now())
    FlowRunFactory(deployment=DeploymentFactory(), state_type="FAILED", end_time=timezone.now())  # not watched
    FlowRunFactory(deployment=watched, state_type="COMPLETED", end_time=timezone.now())
    services.alert_on_failed_runs()
    services.alert_on_failed_runs()  # the overlap re-reads the run; no second alert
    alert = Alert.objects.get()
    assert (alert.subject, alert.flow_run, alert.severity) == (f"run:{run.prefect_id}", run, "critical")
    assert run.name in alert.message


def test_a_second_open_alert_for_the_same_rule_and_subject_is_refused_by_the_database():
    from django.utils import timezone

    first = services.open_alert("rule", "host:x", "warning", "m", now=timezone.now())
    second = services.open_alert("rule", "host:x", "warning", "m", now=timezone.now())
    assert first is not None and second is None
    assert Alert.objects.count() == 1
