"""The root GraphQL schema: the control plane's own types (me, configuration, audit log) plus the parts each app
contributes (`workflows.schema`, `monitoring.schema`), with the hardening extensions of `controlplane.graphql`."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import strawberry
import strawberry_django
from django.conf import settings
from django.contrib.auth import authenticate, get_user_model, login, logout
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from strawberry import auto, relay
from strawberry.scalars import JSON
from strawberry.schema.config import StrawberryConfig
from strawberry.tools import merge_types
from strawberry_django.fields.types import OperationInfo, OperationMessage
from strawberry_django.permissions import HasPerm, IsAuthenticated

from controlplane import services
from controlplane.graphql import (
    AuditedHasPerm,
    CountedConnection,
    actor_of,
    call_service,
    column_field,
    model_type,
    schema_extensions,
    validation_error,
)
from controlplane.graphql_execution import FastLeafExecutor
from controlplane.models import ApiToken, AuditEvent, OrchestrationConfig
from monitoring import schema as monitoring_schema
from workflows.schema import WorkflowsQuery
from workflows.schema_bulk import BulkOperationQuery
from workflows.schema_mutations import WorkflowsMutation


@strawberry.type
class Me:
    username: str
    is_superuser: bool
    roles: list[str]
    permissions: list[str] = strawberry.field(description="Django permissions, `app_label.codename`.")


@model_type(OrchestrationConfig, name="OrchestrationConfig")
class OrchestrationConfigType:
    max_concurrent_runs: auto
    retry_attempts: auto
    health_check_interval_seconds: auto
    auto_recovery_enabled: auto
    monitoring_enabled: auto
    default_timeout_seconds: auto
    updated_at: datetime | None


@model_type(AuditEvent, name="AuditEvent")
class AuditEventNode(relay.Node):
    occurred_at: datetime
    actor_label: auto
    action: auto
    target_type: auto
    target_id: auto
    before: JSON | None
    after: JSON | None
    outcome: auto
    message: auto
    ip_address: str | None
    user_agent: auto
    prev_hash: auto
    hash: auto


@strawberry.input(description="All given conditions must hold.")
class AuditEventFilter:
    actor: str | None = strawberry.field(default=None, description="Exact actor label: username, token:<name>, system.")
    action: str | None = None
    outcome: str | None = strawberry.field(default=None, description="success, denied or error.")
    target_type: str | None = None
    target_id: str | None = None
    occurred_after: datetime | None = None
    occurred_before: datetime | None = None


def filter_audit_events(events: QuerySet[AuditEvent], event_filter: AuditEventFilter) -> QuerySet[AuditEvent]:
    exact = {
        "actor_label": event_filter.actor,
        "action": event_filter.action,
        "outcome": event_filter.outcome,
        "target_type": event_filter.target_type,
        "target_id": event_filter.target_id,
        "occurred_at__gte": event_filter.occurred_after,
        "occurred_at__lte": event_filter.occurred_before,
    }
    return events.filter(**{lookup: value for lookup, value in exact.items() if value is not None})


def _current_config() -> OrchestrationConfig:
    # Reading must not write: an unsaved default row stands in until an admin saves the configuration.
    return OrchestrationConfig.objects.filter(pk=1).first() or OrchestrationConfig(pk=1)


@strawberry.type
class ControlPlaneQuery:
    @strawberry.field(description="The authenticated user (session or token), or null when anonymous.")
    def me(self, info: strawberry.Info) -> Me | None:
        user = info.context.request.user
        return _me(user) if user.is_authenticated else None

    @strawberry_django.field(extensions=[HasPerm("controlplane.view_orchestrationconfig", fail_silently=False)])
    def config(self) -> OrchestrationConfigType:
        return _current_config()  # type: ignore[return-value]

    @strawberry_django.connection(
        CountedConnection[AuditEventNode],
        extensions=[HasPerm("controlplane.view_auditevent", fail_silently=False)],
        description="The audit log, newest first (auditors and admins).",
    )
    def audit_events(self, filter: AuditEventFilter | None = None) -> QuerySet[AuditEvent]:
        events = AuditEvent.objects.order_by("-id")
        return filter_audit_events(events, filter) if filter else events


@model_type(ApiToken, name="ApiToken")
class ApiTokenNode(relay.Node):
    name: auto
    prefix: str = column_field(description="First characters of the secret, to recognise it.")
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    last_used_at: datetime | None

    @strawberry_django.field(only=["user__username"], select_related=["user"])
    def username(self, root: ApiToken) -> str:
        return root.user.get_username()


@strawberry.type(description="A new token. `secret` is shown only here: store it now.")
class CreatedApiToken:
    token: ApiTokenNode
    secret: str


@strawberry.input(description="Only the settings given are changed.")
class ConfigChanges:
    max_concurrent_runs: int | None = strawberry.UNSET
    retry_attempts: int | None = strawberry.UNSET
    health_check_interval_seconds: int | None = strawberry.UNSET
    auto_recovery_enabled: bool | None = strawberry.UNSET
    monitoring_enabled: bool | None = strawberry.UNSET
    default_timeout_seconds: int | None = strawberry.UNSET


MeResult = Annotated[Me | OperationInfo, strawberry.union("MeResult")]
ConfigResult = Annotated[OrchestrationConfigType | OperationInfo, strawberry.union("ConfigResult")]
CreateTokenResult = Annotated[CreatedApiToken | OperationInfo, strawberry.union("CreateApiTokenResult")]
TokenResult = Annotated[ApiTokenNode | OperationInfo, strawberry.union("ApiTokenResult")]


def _token_owner(info: strawberry.Info, username: str | None) -> AbstractBaseUser | None:
    if username is None:
        user = info.context.request.user
        return user if user.is_authenticated else None
    return get_user_model().objects.filter(username=username).first()


def _find_token(token_id: strawberry.ID) -> ApiToken | None:
    try:
        global_id = relay.GlobalID.from_id(token_id)
    except ValueError:
        return ApiToken.objects.select_related("user").filter(pk=int(token_id)).first() if token_id.isdigit() else None
    if global_id.type_name != "ApiToken":
        return None
    return ApiToken.objects.select_related("user").filter(pk=global_id.node_id).first()


@strawberry.type
class ControlPlaneMutation:
    @strawberry.mutation(description="Start a session (browser clients; scripts use a Bearer token instead).")
    def login(self, info: strawberry.Info, username: str, password: str) -> MeResult:
        request = info.context.request
        try:
            # Through `authenticate`, so django-axes counts failures and the login signals are audited.
            user = authenticate(request, username=username, password=password)
        except PermissionDenied:
            return _login_refused("Too many failed login attempts; try again later.")
        if user is None:
            return _login_refused("Wrong username or password.")
        login(request, user)
        return _me(user)

    @strawberry.mutation(description="End the session.")
    def logout(self, info: strawberry.Info) -> bool:
        request = info.context.request
        was_logged_in = request.user.is_authenticated
        logout(request)
        return was_logged_in

    @strawberry.mutation(extensions=[AuditedHasPerm("controlplane.change_orchestrationconfig")])
    def update_config(self, info: strawberry.Info, changes: ConfigChanges) -> ConfigResult:
        given = {name: value for name, value in vars(changes).items() if value is not strawberry.UNSET}
        return call_service(services.update_config, actor_of(info), given)

    @strawberry.mutation(
        extensions=[IsAuthenticated()],
        description="Create a token for yourself, or (with manage_all_tokens) for `username`.",
    )
    def create_api_token(
        self, info: strawberry.Info, name: str, expires_at: datetime | None = None, username: str | None = None
    ) -> CreateTokenResult:
        owner = _token_owner(info, username)
        if owner is None:
            return validation_error("username", f"No user named {username!r}.")
        result = call_service(services.create_api_token, actor_of(info), owner, name, expires_at)
        if isinstance(result, OperationInfo):
            return result
        token, secret = result
        return CreatedApiToken(token=token, secret=secret)  # type: ignore[arg-type]

    @strawberry.mutation(extensions=[IsAuthenticated()])
    def revoke_api_token(self, info: strawberry.Info, id: strawberry.ID) -> TokenResult:
        token = _find_token(id)
        if token is None:
            return validation_error("id", f"No API token with id {id}.")
        return call_service(services.revoke_api_token, actor_of(info), token)


def _me(user: AbstractBaseUser) -> Me:
    return Me(
        username=user.get_username(),
        is_superuser=user.is_superuser,
        roles=sorted(user.groups.values_list("name", flat=True)),
        permissions=sorted(user.get_all_permissions()),
    )


def _login_refused(message: str) -> OperationInfo:
    return OperationInfo(messages=[OperationMessage(kind=OperationMessage.Kind.PERMISSION, message=message)])


Query = merge_types("Query", (ControlPlaneQuery, WorkflowsQuery, BulkOperationQuery, *monitoring_schema.QUERY_TYPES))
Mutation = merge_types("Mutation", (ControlPlaneMutation, WorkflowsMutation, *monitoring_schema.MUTATION_TYPES))

schema = strawberry.Schema(
    query=Query,
    mutation=Mutation,
    extensions=schema_extensions(),
    execution_context_class=FastLeafExecutor,
    config=StrawberryConfig(
        relay_max_results=settings.GRAPHQL_MAX_PAGE_SIZE,
        disable_field_suggestions=not settings.GRAPHQL_INTROSPECTION,
    ),
)
