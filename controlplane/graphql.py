"""The HTTP edge of the GraphQL API: the view, the hardening extensions, and how its errors look to a client.

Every refusal here (body too large, malformed request, CSRF failure) answers in the GraphQL response shape
`{"data": null, "errors": [{"message": …, "extensions": {"code": …}}]}` so a client sees one error format, never an
HTML page or a 500.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from typing import Any

import orjson
import strawberry
import strawberry_django
from axes.helpers import get_lockout_message
from cross_web import HTTPException
from django.conf import settings
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import RequestDataTooBig
from django.db import transaction
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.middleware.csrf import get_token
from django.views.csrf import csrf_failure as django_csrf_failure
from graphql.validation import ASTValidationRule, NoSchemaIntrospectionCustomRule
from strawberry import Info, relay
from strawberry.django.views import GraphQLView
from strawberry.extensions import (
    AddValidationRules,
    MaxAliasesLimiter,
    MaxTokensLimiter,
    ParserCache,
    QueryDepthLimiter,
    SchemaExtension,
    ValidationCache,
)
from strawberry_django.fields.field import StrawberryDjangoField
from strawberry_django.fields.types import OperationInfo, OperationMessage
from strawberry_django.optimizer import DjangoOptimizerExtension
from strawberry_django.permissions import HasPerm
from strawberry_django.relay import DjangoListConnection

from controlplane.audit import Actor, record_audit_event
from controlplane.exceptions import InvalidInput, PermissionDeniedError, ServiceError
from controlplane.models import AuditOutcome

GRAPHQL_PATH = "/graphql/"
GRAPHQL_DOCUMENT_CACHE_SIZE = 256


def graphql_error_response(message: str, status: int, code: str) -> JsonResponse:
    return JsonResponse({"data": None, "errors": [{"message": message, "extensions": {"code": code}}]}, status=status)


class ControlPlaneGraphQLView(GraphQLView):
    """POST only (a GET cannot carry a CSRF token, so it must not run operations); GraphiQL for logged-in users."""

    def __init__(self, **kwargs: Any) -> None:
        # Strawberry's __init__ default (True) would override a class attribute, so force it here.
        super().__init__(**{**kwargs, "allow_queries_via_get": False})

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if _declared_body_size(request) > settings.DATA_UPLOAD_MAX_MEMORY_SIZE:
            return _body_too_large()
        try:
            return self.run(request=request)
        except RequestDataTooBig:
            return _body_too_large()
        except HTTPException as exc:
            return graphql_error_response(exc.reason, exc.status_code, "BAD_REQUEST")

    def encode_json(self, data: object) -> str | bytes:
        """orjson: ~15x faster than the json module on a 100-run page (0.24 → 0.015 ms). A value it cannot encode
        (an integer beyond 64 bits in run parameters) takes strawberry's own encoder, which knows Django's types."""
        try:
            return orjson.dumps(data)
        except TypeError:
            return super().encode_json(data)

    def render_graphql_ide(self, request: HttpRequest) -> HttpResponse:
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        get_token(request)  # sets the csrftoken cookie that GraphiQL sends back as X-CSRFToken
        return super().render_graphql_ide(request)


def _declared_body_size(request: HttpRequest) -> int:
    try:
        return int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return 0


def _body_too_large() -> JsonResponse:
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    return graphql_error_response(
        f"Request body is larger than the {limit} bytes this API accepts.", 413, "REQUEST_TOO_LARGE"
    )


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    """`CSRF_FAILURE_VIEW`: a GraphQL-shaped 403 on the API, Django's own page everywhere else."""
    if request.path.startswith(GRAPHQL_PATH):
        return graphql_error_response(
            f"CSRF check failed ({reason}). Session requests must send the csrftoken cookie's value as the "
            "X-CSRFToken header; scripts should use an `Authorization: Bearer <token>` header instead.",
            403,
            "CSRF_FAILED",
        )
    return django_csrf_failure(request, reason)


class IntrospectionGate(AddValidationRules):
    """Refuses `__schema`/`__type` unless `settings.GRAPHQL_INTROSPECTION`; read per request so tests can flip it."""

    def __init__(self) -> None:
        super().__init__([NoSchemaIntrospectionCustomRule])

    def on_operation(self) -> Iterator[None]:
        if not settings.GRAPHQL_INTROSPECTION:
            self.execution_context.validation_rules = (
                *self.execution_context.validation_rules,
                NoSchemaIntrospectionCustomRule,
            )
        yield


@functools.cache
def query_limit_rules(max_depth: int, max_aliases: int) -> tuple[type[ASTValidationRule], ...]:
    """The depth and alias limits as validation rules, built once per limit value: strawberry's limiter extensions
    build a new rule class each time, which would make every request's rules — and so the validation cache key —
    new."""
    return (
        *QueryDepthLimiter(max_depth=max_depth).validation_rules,
        *MaxAliasesLimiter(max_alias_count=max_aliases).validation_rules,
    )


class QueryLimits(AddValidationRules):
    """Query depth and alias limits (`GRAPHQL_MAX_DEPTH`, `GRAPHQL_MAX_ALIASES`), checked before any resolver."""

    def __init__(self) -> None:
        super().__init__(list(query_limit_rules(settings.GRAPHQL_MAX_DEPTH, settings.GRAPHQL_MAX_ALIASES)))


def schema_extensions() -> list[Callable[[], SchemaExtension]]:
    """Factories (a fresh extension per request). The validation limits run before any resolver, so a hostile
    document is refused without database work."""
    return [
        lambda: MaxTokensLimiter(max_token_count=settings.GRAPHQL_MAX_TOKENS),
        QueryLimits,
        IntrospectionGate,
        # Clients send the same few documents again and again; parsing and validating one costs more than executing
        # a small query. Keyed by the text (and parse options: the token limit), then by the parsed document and
        # the rules in force (the limits above, the introspection gate), so a refusal is cached, never bypassed.
        lambda: ParserCache(maxsize=GRAPHQL_DOCUMENT_CACHE_SIZE),
        lambda: ValidationCache(maxsize=GRAPHQL_DOCUMENT_CACHE_SIZE),
        QuerySetOptimizer,
    ]


class QuerySetOptimizer(DjangoOptimizerExtension):
    """The optimizer without its per-field middleware hook. strawberry-django already optimizes every queryset its
    fields and connections build (through the optimizer set in `on_execute`); the hook only re-checks each of the
    thousands of resolved values of a big page for a queryset, which costs CPU on every field of a big page."""

    resolve = SchemaExtension.resolve  # type: ignore[assignment]


class ColumnField(StrawberryDjangoField):
    """A column or a to-one relation read straight off the row. strawberry-django marks every field as needing its
    full resolver chain (an `Info` object, argument parsing, the extension chain) even when it only reads what the
    optimizer has already loaded (the column, or the related row it joined); a 100-run page has ~1,900 such fields,
    and that chain was half of its CPU. A field with no resolver, no extension (no permission check) and no list,
    connection or pagination of related rows takes strawberry's plain-attribute path (and then
    `controlplane.graphql_execution`'s fast leaf path). A list of plain values (an array or JSON column of strings)
    is such a field too. (An unjoined to-one relation still loads: strawberry-django falls back to reading the
    attribute, as Django would.)"""

    @property
    def is_basic_field(self) -> bool:
        many = (self.is_list and self.is_relation) or self.is_connection or self.is_paginated
        return not (self.base_resolver or self.extensions or many or self.is_async)

    def attribute_reader(self) -> Callable[[Any, Any], Any]:
        """For a scalar column: what `get_result` returns — the row's attribute — without its per-call checks of
        descriptor types (used by `controlplane.graphql_execution` for thousands of values per page)."""
        attname = self.django_name or self.python_name

        def read(source: Any, _info: Any) -> Any:
            return getattr(source, attname)

        return read


class BlankAsNullColumnField(ColumnField):
    """A text column whose blank value means "none": read as null. For a column of choices exposed as a GraphQL enum
    whose values are the stored strings, so the enum serializes the column as it is, with no resolver."""

    def get_result(self, source: Any, info: Any, args: list[Any], kwargs: dict[str, Any]) -> Any:
        return super().get_result(source, info, args, kwargs) or None

    def attribute_reader(self) -> Callable[[Any, Any], Any]:
        read_column = super().attribute_reader()

        def read(source: Any, info: Any) -> Any:
            return read_column(source, info) or None

        return read


def column_field(*, blank_as_null: bool = False, **options: Any) -> Any:
    """`strawberry_django.field` for a column declared with options (a description, another model field name)."""
    return strawberry_django.field(field_cls=BlankAsNullColumnField if blank_as_null else ColumnField, **options)


def model_type(model: type, **options: Any) -> Callable[[type], type]:
    """`strawberry_django.type` whose plain columns are `ColumnField`s."""
    return strawberry_django.type(model, field_cls=ColumnField, **options)


# --- Mutations: who may call them, and how a refusal looks -----------------------------------------------------------


def actor_of(info: Info) -> Actor:
    return Actor.from_request(info.context.request)


class AuditedHasPerm(HasPerm):
    """`HasPerm` for mutations: the same Django permission the service checks, declared in the schema (so clients
    see it in the SDL), refused as an `OperationInfo` payload of kind PERMISSION, and the refused attempt audited."""

    def __init__(self, permission: str) -> None:
        super().__init__(permission, message=f"You don't have the permission this needs ({permission}).")

    def handle_no_permission(self, exception: BaseException, *, info: Info) -> Any:
        with transaction.atomic():
            record_audit_event(
                actor_of(info),
                f"graphql.{info.field_name}",
                target_type="graphql_mutation",
                target_id=info.field_name,
                outcome=AuditOutcome.DENIED,
                message=self.message,
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


def axes_lockout_response(
    request: HttpRequest, original_response: HttpResponse | None = None, credentials: dict | None = None
) -> HttpResponse:
    """`AXES_LOCKOUT_CALLABLE`: a GraphQL-shaped 429 on the API; axes' own plain message everywhere else."""
    status = settings.AXES_HTTP_RESPONSE_CODE
    if request.path.startswith(GRAPHQL_PATH):
        return graphql_error_response("Too many failed login attempts; try again later.", status, "LOCKED_OUT")
    return HttpResponse(get_lockout_message(), status=status)


@strawberry.type(name="Connection", description="A connection to a list of items.")
class CountedConnection(DjangoListConnection[relay.NodeType]):
    """A relay connection whose `totalCount` is its own `COUNT(*)` query. strawberry-django's default adds
    `COUNT(*) OVER ()` to the page query instead, which makes PostgreSQL read and sort every matching row to return
    one page: 0.48 s instead of 0.09 s for 100 of 100k runs (bench/RESULTS.md)."""

    @classmethod
    def resolve_connection(
        cls,
        nodes: Any,
        *,
        info: Info,
        before: str | None = None,
        after: str | None = None,
        first: int | None = None,
        last: int | None = None,
        **kwargs: Any,
    ) -> Any:
        if (last or 0) > 0 and before is None:  # strawberry-django's optimized "last n" path; no window there
            return super().resolve_connection(
                nodes, info=info, before=before, after=after, first=first, last=last, **kwargs
            )
        connection = relay.ListConnection.resolve_connection.__func__(  # type: ignore[attr-defined]
            cls, nodes, info=info, before=before, after=after, first=first, last=last, **kwargs
        )
        connection.nodes = nodes
        return connection
