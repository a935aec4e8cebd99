"""Monitoring mutations: each finds its row and calls `monitoring.services` / `monitoring.configuration`; a refusal
comes back as an `OperationInfo` payload."""

from __future__ import annotations

from typing import Annotated, Any, TypeVar

import strawberry
from django.db import models
from strawberry import relay
from strawberry_django.fields.types import OperationInfo

from controlplane.api.errors import AuditedHasPerm, actor_of, call_service, validation_error
from monitoring import configuration, services
from monitoring.graphql.types import AlertNode, DeliveryType, ThresholdNode
from monitoring.models import Alert, NotificationChannel, Threshold

AlertResult = Annotated[AlertNode | OperationInfo, strawberry.union("AlertResult")]
ThresholdResult = Annotated[ThresholdNode | OperationInfo, strawberry.union("ThresholdResult")]
DeliveryResult = Annotated[DeliveryType | OperationInfo, strawberry.union("DeliveryResult")]
ModelT = TypeVar("ModelT", bound=models.Model)


def find(model: type[ModelT], type_name: str, value: strawberry.ID) -> ModelT | None:
    """A row by its relay node id, or by its plain database id."""
    try:
        global_id = relay.GlobalID.from_id(value)
    except ValueError:
        pk: Any = value
    else:
        if global_id.type_name != type_name:
            return None
        pk = global_id.node_id
    try:
        return model._default_manager.filter(pk=int(pk)).first()
    except (TypeError, ValueError):
        return None


@strawberry.input(description="Only the fields given are changed.")
class ThresholdChanges:
    name: str | None = strawberry.UNSET
    metric: str | None = strawberry.UNSET
    scope: str | None = strawberry.UNSET
    scope_value: str | None = strawberry.UNSET
    comparison: str | None = strawberry.UNSET
    warning_level: float | None = strawberry.UNSET
    critical_level: float | None = strawberry.UNSET
    for_seconds: int | None = strawberry.UNSET
    enabled: bool | None = strawberry.UNSET


def _given(changes: ThresholdChanges) -> dict[str, Any]:
    return {name: value for name, value in vars(changes).items() if value is not strawberry.UNSET}


@strawberry.type
class MonitoringMutation:
    @strawberry.mutation(
        extensions=[AuditedHasPerm(services.ACKNOWLEDGE)], description="Stop reminders for a firing alert."
    )
    def acknowledge_alert(self, info: strawberry.Info, id: strawberry.ID) -> AlertResult:
        alert = find(Alert, "Alert", id)
        if alert is None:
            return validation_error("id", f"No alert with id {id}.")
        return call_service(services.acknowledge_alert, actor_of(info), alert)

    @strawberry.mutation(extensions=[AuditedHasPerm(services.RESOLVE)], description="Close an open alert.")
    def resolve_alert(self, info: strawberry.Info, id: strawberry.ID) -> AlertResult:
        alert = find(Alert, "Alert", id)
        if alert is None:
            return validation_error("id", f"No alert with id {id}.")
        return call_service(services.resolve_alert, actor_of(info), alert)

    @strawberry.mutation(extensions=[AuditedHasPerm("monitoring.add_threshold")])
    def create_threshold(self, info: strawberry.Info, input: ThresholdChanges) -> ThresholdResult:
        return call_service(configuration.create_threshold, actor_of(info), _given(input))

    @strawberry.mutation(extensions=[AuditedHasPerm("monitoring.change_threshold")])
    def update_threshold(self, info: strawberry.Info, id: strawberry.ID, changes: ThresholdChanges) -> ThresholdResult:
        threshold = find(Threshold, "Threshold", id)
        if threshold is None:
            return validation_error("id", f"No threshold with id {id}.")
        return call_service(configuration.update_threshold, actor_of(info), threshold, _given(changes))

    @strawberry.mutation(
        extensions=[AuditedHasPerm("monitoring.change_notificationchannel")],
        description="Send a test message to the channel now; the delivery says how it went.",
    )
    def test_notification_channel(self, info: strawberry.Info, id: strawberry.ID) -> DeliveryResult:
        channel = find(NotificationChannel, "NotificationChannel", id)
        if channel is None:
            return validation_error("id", f"No notification channel with id {id}.")
        return call_service(configuration.send_test_notification, actor_of(info), channel)
