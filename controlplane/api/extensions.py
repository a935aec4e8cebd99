"""The schema extensions every request runs through: size, depth and alias limits, the introspection switch, the
parse/validation caches and the queryset optimizer."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator

from django.conf import settings
from graphql.validation import ASTValidationRule, NoSchemaIntrospectionCustomRule
from strawberry.extensions import (
    AddValidationRules,
    MaxAliasesLimiter,
    MaxTokensLimiter,
    ParserCache,
    QueryDepthLimiter,
    SchemaExtension,
    ValidationCache,
)
from strawberry_django.optimizer import DjangoOptimizerExtension

GRAPHQL_DOCUMENT_CACHE_SIZE = 256


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
