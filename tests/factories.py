"""factory-boy factories for the mirror and for users with roles. Mirror rows made here are for read-path tests
(admin, GraphQL, query counts); behaviour against Prefect is tested with the real Prefect test server."""

from __future__ import annotations

import uuid
from datetime import timedelta

import factory
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.utils import timezone

from workflows.models import Deployment, Flow, FlowRun, StateType, WorkPool


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.com")
    is_staff = True
    password = factory.PostGenerationMethodCall("set_password", "correct horse battery staple")

    @factory.post_generation
    def role(self, create: bool, extracted: str | None, **kwargs: object) -> None:
        """`UserFactory(role="operator")` puts the user in that role's group."""
        self.save()
        if create and extracted:
            self.groups.add(Group.objects.get(name=extracted))


class WorkPoolFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = WorkPool

    prefect_id = factory.LazyFunction(uuid.uuid4)
    name = factory.Sequence(lambda n: f"pool-{n}")
    type = "process"


class FlowFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Flow

    prefect_id = factory.LazyFunction(uuid.uuid4)
    name = factory.Sequence(lambda n: f"flow-{n}")


class DeploymentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Deployment

    prefect_id = factory.LazyFunction(uuid.uuid4)
    name = factory.Sequence(lambda n: f"deployment-{n}")
    flow = factory.SubFactory(FlowFactory)
    work_pool = factory.SubFactory(WorkPoolFactory)
    parameter_openapi_schema = factory.LazyFunction(
        lambda: {
            "type": "object",
            "title": "Parameters",
            "properties": {"rows": {"type": "integer", "title": "rows", "default": 100}},
        }
    )


class FlowRunFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = FlowRun

    prefect_id = factory.LazyFunction(uuid.uuid4)
    name = factory.Sequence(lambda n: f"run-{n}")
    deployment = factory.SubFactory(DeploymentFactory)
    flow = factory.LazyAttribute(lambda run: run.deployment.flow if run.deployment else FlowFactory())
    work_pool = factory.LazyAttribute(lambda run: run.deployment.work_pool if run.deployment else None)
    state_type = StateType.COMPLETED
    state_name = "Completed"
    expected_start_time = factory.LazyFunction(lambda: timezone.now() - timedelta(minutes=5))
    start_time = factory.LazyAttribute(lambda run: run.expected_start_time)
    end_time = factory.LazyAttribute(lambda run: run.start_time + timedelta(seconds=30))
    state_timestamp = factory.LazyAttribute(lambda run: run.end_time)


class ThresholdFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "monitoring.Threshold"

    name = factory.Sequence(lambda n: f"threshold-{n}")
    metric = "cpu_percent"
    scope = "global"
    comparison = ">"
    warning_level = 80.0
    critical_level = 95.0


class AlertFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "monitoring.Alert"

    rule = factory.Sequence(lambda n: f"test-rule-{n}")
    subject = "host:test"
    severity = "warning"
    status = "firing"
    first_seen = factory.LazyFunction(timezone.now)
    last_seen = factory.LazyFunction(timezone.now)
    message = "CPU on test: 85"


class NotificationChannelFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "monitoring.NotificationChannel"

    name = factory.Sequence(lambda n: f"channel-{n}")
    kind = "webhook"
    target = "http://127.0.0.1:9/hook"
    secret = "s3cret"


class SystemSampleFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "monitoring.SystemSample"

    host = "test-host"
    taken_at = factory.LazyFunction(timezone.now)
    cpu_percent = 50.0
    memory_percent = 40.0
    disk_percent = factory.LazyFunction(lambda: {"/": 30.0})
