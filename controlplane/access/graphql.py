"""The API's side of access: who am I, logging in and out, and API tokens (through `controlplane.access.services`)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import strawberry
import strawberry_django
from django.contrib.auth import authenticate, get_user_model, login, logout
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import PermissionDenied
from strawberry import auto, relay
from strawberry_django.fields.types import OperationInfo, OperationMessage
from strawberry_django.permissions import IsAuthenticated

from controlplane.access import services
from controlplane.access.models import ApiToken
from controlplane.api.errors import actor_of, call_service, validation_error
from controlplane.api.fields import column_field, model_type


@strawberry.type
class Me:
    username: str
    is_superuser: bool
    roles: list[str]
    permissions: list[str] = strawberry.field(description="Django permissions, `app_label.codename`.")


@strawberry.type
class SessionQuery:
    @strawberry.field(description="The authenticated user (session or token), or null when anonymous.")
    def me(self, info: strawberry.Info) -> Me | None:
        user = info.context.request.user
        return _me(user) if user.is_authenticated else None


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


MeResult = Annotated[Me | OperationInfo, strawberry.union("MeResult")]
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
class SessionMutation:
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


@strawberry.type
class TokenMutation:
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
