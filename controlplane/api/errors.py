"""How mutations refuse: the audited permission gate, and a service's `ServiceError` turned into the typed
`OperationInfo` payload clients get (never a 500)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from strawberry import Info
from strawberry_django.fields.types import OperationInfo, OperationMessage
from strawberry_django.permissions import HasPerm

from controlplane.audit.actor import Actor
from controlplane.audit.services import record_denied
from controlplane.exceptions import InvalidInput, PermissionDeniedError, ServiceError


def actor_of(info: Info) -> Actor:
    return Actor.from_request(info.context.request)


class AuditedHasPerm(HasPerm):
    """`HasPerm` for mutations: the same Django permission the service checks, declared in the schema (so clients
    see it in the SDL), refused as an `OperationInfo` payload of kind PERMISSION, and the refused attempt audited."""

    def __init__(self, permission: str) -> None:
        super().__init__(permission, message=f"You don't have the permission this needs ({permission}).")

    def handle_no_permission(self, exception: BaseException, *, info: Info) -> Any:
        record_denied(
            actor_of(info),
            f"graphql.{info.field_name}",
            self.message,
            target_type="graphql_mutation",
            target_id=info.field_name,
        )
        return super().handle_no_permission(exception, info=info)


_MESSAGE_KINDS: dict[type[ServiceError], OperationMessage.Kind] = {
    PermissionDeniedError: OperationMessage.Kind.PERMISSION,
    InvalidInput: OperationMessage.Kind.VALIDATION,
}
NON_FIELD_KEYS = frozenset({"__all__", ""})


def operation_info(error: ServiceError) -> OperationInfo:
    """A service's refusal as the typed payload clients get: the message, then one message per field error."""
    kind = next((k for cls, k in _MESSAGE_KINDS.items() if isinstance(error, cls)), OperationMessage.Kind.ERROR)
    code = type(error).__name__
    messages = [OperationMessage(kind=kind, message=error.message, code=code)]
    for field, field_messages in getattr(error, "field_errors", {}).items():
        messages.extend(
            OperationMessage(
                kind=OperationMessage.Kind.VALIDATION,
                message=message,
                field=None if field in NON_FIELD_KEYS else field,
                code=code,
            )
            for message in field_messages
        )
    return OperationInfo(messages=messages)


def validation_error(field: str, message: str) -> OperationInfo:
    """An input the edge itself cannot translate (unknown id, malformed JSON) — before any service is called."""
    return OperationInfo(
        messages=[
            OperationMessage(kind=OperationMessage.Kind.VALIDATION, message=message, field=field, code="NotFound")
        ]
    )


def call_service(service: Callable[..., Any], *args: Any) -> Any:
    """Call a service; its refusal (a `ServiceError`) becomes the operation's typed error payload."""
    try:
        return service(*args)
    except ServiceError as error:
        return operation_info(error)
