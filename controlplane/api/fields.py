"""Field and connection classes the domain apps' GraphQL types are built with.

`ColumnField` leans on strawberry's "basic field" internals (`is_basic_field`, the plain-attribute path) so that a
plain column skips strawberry-django's resolver chain: half of a 100-run page's CPU (bench/RESULTS.md, "GraphQL").
strawberry-graphql and strawberry-graphql-django are pinned exactly in requirements/constraints.txt; with
`GRAPHQL_FAST_EXECUTOR=false` the types are built from strawberry-django's own field class instead (and the executor
is graphql-core's), and the whole GraphQL test suite runs that way too in CI.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import strawberry
import strawberry_django
from django.conf import settings
from graphql import GraphQLError
from strawberry import Info, relay
from strawberry.relay.types import PREFIX as CURSOR_PREFIX
from strawberry.relay.utils import from_base64
from strawberry_django.fields.field import StrawberryDjangoField
from strawberry_django.relay import DjangoListConnection


class ColumnField(StrawberryDjangoField):
    """A column or a to-one relation read straight off the row. strawberry-django marks every field as needing its
    full resolver chain (an `Info` object, argument parsing, the extension chain) even when it only reads what the
    optimizer has already loaded (the column, or the related row it joined); a 100-run page has ~1,900 such fields,
    and that chain was half of its CPU. A field with no resolver, no extension (no permission check) and no list,
    connection or pagination of related rows takes strawberry's plain-attribute path (and then
    `controlplane.api.executor`'s fast leaf path). A list of plain values (an array or JSON column of strings)
    is such a field too. (An unjoined to-one relation still loads: strawberry-django falls back to reading the
    attribute, as Django would.)"""

    @property
    def is_basic_field(self) -> bool:
        many = (self.is_list and self.is_relation) or self.is_connection or self.is_paginated
        return not (self.base_resolver or self.extensions or many or self.is_async)

    def attribute_reader(self) -> Callable[[Any, Any], Any]:
        """For a scalar column: what `get_result` returns — the row's attribute — without its per-call checks of
        descriptor types (used by `controlplane.api.executor` for thousands of values per page)."""
        attname = self.django_name or self.python_name

        def read(source: Any, _info: Any) -> Any:
            return getattr(source, attname)

        return read


class BlankAsNullField(StrawberryDjangoField):
    """A text column whose blank value means "none": read as null. For a column of choices exposed as a GraphQL enum
    whose values are the stored strings, so the enum serializes the column as it is, with no resolver."""

    def get_result(self, source: Any, info: Any, args: list[Any], kwargs: dict[str, Any]) -> Any:
        return super().get_result(source, info, args, kwargs) or None


class BlankAsNullColumnField(ColumnField, BlankAsNullField):
    """`BlankAsNullField` on the fast path."""

    def attribute_reader(self) -> Callable[[Any, Any], Any]:
        read_column = super().attribute_reader()

        def read(source: Any, info: Any) -> Any:
            return read_column(source, info) or None

        return read


def column_field(*, blank_as_null: bool = False, **options: Any) -> Any:
    """`strawberry_django.field` for a column declared with options (a description, another model field name)."""
    if settings.GRAPHQL_FAST_EXECUTOR:
        field_cls: type[StrawberryDjangoField] = BlankAsNullColumnField if blank_as_null else ColumnField
    else:
        field_cls = BlankAsNullField if blank_as_null else StrawberryDjangoField
    return strawberry_django.field(field_cls=field_cls, **options)


def model_type(model: type, **options: Any) -> Callable[[type], type]:
    """`strawberry_django.type` whose plain columns are `ColumnField`s (strawberry-django's own with the fast paths
    off)."""
    field_cls = ColumnField if settings.GRAPHQL_FAST_EXECUTOR else StrawberryDjangoField
    return strawberry_django.type(model, field_cls=field_cls, **options)


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
        for argument, cursor in (("before", before), ("after", after)):
            if cursor is not None:
                check_cursor(argument, cursor)
        if (last or 0) > 0 and before is None:  # strawberry-django's optimized "last n" path; no window there
            return super().resolve_connection(
                nodes, info=info, before=before, after=after, first=first, last=last, **kwargs
            )
        connection = relay.ListConnection.resolve_connection.__func__(  # type: ignore[attr-defined]
            cls, nodes, info=info, before=before, after=after, first=first, last=last, **kwargs
        )
        connection.nodes = nodes
        return connection


def check_cursor(argument: str, cursor: str) -> None:
    """Refuse a cursor this API did not give out with a client error of its own, before strawberry's decoder would
    answer with Python's base64 or int() error text."""
    try:
        prefix, offset = from_base64(cursor)
        valid = prefix == CURSOR_PREFIX and offset.isdigit()
    except ValueError:
        valid = False
    if not valid:
        raise GraphQLError(
            f"Argument '{argument}' is not a cursor of this list: pass an `endCursor`/`startCursor` or edge "
            "`cursor` value this API returned.",
            extensions={"code": "BAD_CURSOR"},
        )
