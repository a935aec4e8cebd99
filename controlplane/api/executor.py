"""A graphql-core executor that completes plain leaf fields without graphql-core's per-field machinery.

A 100-run page selects ~1,900 fields, nearly all of them plain columns: strawberry "basic" fields (no resolver, no
permission extension, no arguments) of scalar or enum type. For each of them graphql-core still builds a resolve
info object and a response path, parses arguments and dispatches `complete_value` — about 10 µs a field, most of a
big page's CPU. This executor reads such a field with the very resolver strawberry gave it (or, for a
`ColumnField`, the row's attribute directly) and serializes the value with the field's own GraphQL type, as
`complete_leaf_value` would. An object whose whole selection is such fields (a run's `flow { name }`), and a plain
list of such objects (a connection's `edges { cursor node { … } }`), is completed the same way, in one pass. Everything
else — fields with arguments, resolvers or permission checks, extensions that hook `resolve` — and any value that
would make graphql-core report an error (null in a non-null field, a value the scalar refuses) takes graphql-core's
own path, so data and errors are exactly what graphql-core returns (tests/controlplane/api/test_executor.py compares
both).

What it buys: the 100-run page in-process 10.0 → 4.9 ms median (`python -m bench.graphql_executor`), part of the
page's 0.60x → 0.47x of Prefect's own filter over HTTP (bench/RESULTS.md, "GraphQL").
What it depends on: graphql-core's `ExecutionContext` methods `execute_fields`/`complete_list_value`/
`complete_object_value` and `collect_subfields`, and strawberry's `StrawberryGraphQLCoreExecutionContext` and its
definition back-reference — graphql-core, strawberry-graphql and strawberry-graphql-django pinned exactly in
requirements/constraints.txt.
How to turn it off: `GRAPHQL_FAST_EXECUTOR=false` (graphql-core's executor, strawberry-django's field class).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from graphql import (
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLOutputType,
    Undefined,
    is_leaf_type,
)
from graphql.execution.collect_fields import GroupedFieldSet
from graphql.pyutils import is_iterable
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext
from strawberry.schema.schema_converter import GraphQLCoreConverter

Completer = Callable[[Any], Any]
STRAWBERRY_DEFINITION = GraphQLCoreConverter.DEFINITION_BACKREF
Resolver = Callable[[Any, Any], Any]


class _Fallback(Exception):
    """This value needs graphql-core's own completion (it will report an error, or is unusual)."""


def leaf_completer(type_: GraphQLOutputType) -> Completer | None:
    """What `complete_value` does for a leaf, a non-null leaf, or a list of them; None for any other type."""
    if isinstance(type_, GraphQLNonNull):
        inner = leaf_completer(type_.of_type)
        return None if inner is None else _non_null(inner)
    if isinstance(type_, GraphQLList):
        item = leaf_completer(type_.of_type)
        return None if item is None else _list_of(item)
    if is_leaf_type(type_):
        return _serializer(type_.serialize)  # type: ignore[union-attr]
    return None


def _non_null(inner: Completer) -> Completer:
    def complete(value: Any) -> Any:
        completed = inner(value)
        if completed is None:
            raise _Fallback
        return completed

    return complete


def _list_of(item: Completer) -> Completer:
    def complete(value: Any) -> Any:
        if value is None:
            return None
        if not is_iterable(value):
            raise _Fallback
        return [item(element) for element in value]

    return complete


def _serializer(serialize: Callable[[Any], Any]) -> Completer:
    def complete(value: Any) -> Any:
        if value is None:
            return None
        if isinstance(value, Exception):
            raise _Fallback
        serialized = serialize(value)
        if serialized is None or serialized is Undefined:
            raise _Fallback
        return serialized

    return complete


def is_basic_strawberry_resolver(resolve: Any) -> bool:
    """Strawberry's resolver for a field that only reads an attribute (`StrawberryField.is_basic_field`): it takes
    no info object, runs no extension and no permission check."""
    return getattr(resolve, "_is_default", False) and getattr(resolve, "__name__", "") == "_get_basic_result"


_EXECUTE_FIELDS_PARAMETERS = ["self", "parent_type", "source_value", "path", "grouped_field_set", "position_context"]


def internals_available() -> bool:
    """True when the installed graphql-core and strawberry have the shapes this executor relies on: the signature of
    `execute_fields` it overrides, and strawberry's basic-field resolver as `is_basic_strawberry_resolver` knows it.
    `controlplane.api.schema` falls back to the standard executor (and logs why) when they do not."""
    import inspect

    import strawberry

    parameters = list(inspect.signature(StrawberryGraphQLCoreExecutionContext.execute_fields).parameters)
    if parameters != _EXECUTE_FIELDS_PARAMETERS:
        return False

    @strawberry.type
    class Probe:
        value: int

    probe_schema = strawberry.Schema(query=Probe)
    field = probe_schema._schema.query_type.fields["value"]  # type: ignore[union-attr]
    return is_basic_strawberry_resolver(field.resolve)


@dataclass(frozen=True)
class FieldPlan:
    """How to complete one object's selection: fast leaves by response name, the rest as graphql-core would."""

    fast: dict[str, tuple[Resolver, Completer]]
    standard: GroupedFieldSet


class FastLeafExecutor(StrawberryGraphQLCoreExecutionContext):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # graphql-core memoizes each object type's grouped field set per selection, so one plan serves every row of
        # a list. The set is kept alive beside its plan so its id cannot be reused within this request.
        self._plans: dict[int, tuple[GroupedFieldSet, FieldPlan | None]] = {}

    def execute_fields(
        self,
        parent_type: GraphQLObjectType,
        source_value: Any,
        path: Any,
        grouped_field_set: GroupedFieldSet,
        position_context: Any,
    ) -> Any:
        plan = self._plan(parent_type, grouped_field_set)
        if plan is None:
            return super().execute_fields(parent_type, source_value, path, grouped_field_set, position_context)
        fast_results: dict[str, Any] = {}
        standard = plan.standard
        for name, (resolve, complete) in plan.fast.items():
            try:
                fast_results[name] = complete(resolve(source_value, None))
            except Exception:
                if standard is plan.standard:
                    standard = dict(standard)
                standard[name] = grouped_field_set[name]
        if not standard:
            return fast_results  # every field was fast: already in selection order, as `plan.fast` is
        standard_results = super().execute_fields(parent_type, source_value, path, standard, position_context)
        if self.is_awaitable(standard_results):

            async def merged() -> dict[str, Any]:
                return self._in_selection_order(grouped_field_set, fast_results, await standard_results)

            return merged()
        return self._in_selection_order(grouped_field_set, fast_results, standard_results)

    @staticmethod
    def _in_selection_order(
        grouped_field_set: GroupedFieldSet, fast: dict[str, Any], standard: dict[str, Any]
    ) -> dict[str, Any]:
        results = {}
        for name in grouped_field_set:
            if name in fast:
                results[name] = fast[name]
            elif name in standard:
                results[name] = standard[name]
        return results

    def _plan(self, parent_type: GraphQLObjectType, grouped_field_set: GroupedFieldSet) -> FieldPlan | None:
        cached = self._plans.get(id(grouped_field_set))
        if cached is not None and cached[0] is grouped_field_set:
            return cached[1]
        plan = self._build_plan(parent_type, grouped_field_set)
        self._plans[id(grouped_field_set)] = (grouped_field_set, plan)
        return plan

    def _build_plan(self, parent_type: GraphQLObjectType, grouped_field_set: GroupedFieldSet) -> FieldPlan | None:
        if self.middleware_manager is not None and self.middleware_manager.middlewares:
            return None  # an extension hooks every field's resolve; it must see these fields too
        fast: dict[str, tuple[Resolver, Completer]] = {}
        standard: GroupedFieldSet = {}
        for name, field_details_list in grouped_field_set.items():
            entry = self._fast_entry(parent_type, field_details_list)
            if entry is None:
                standard[name] = field_details_list
            else:
                fast[name] = entry
        return FieldPlan(fast, standard) if fast else None

    def _fast_entry(self, parent_type: GraphQLObjectType, field_details_list: Any) -> tuple[Resolver, Completer] | None:
        node = field_details_list[0].node
        field_name = node.name.value
        if field_name == "__typename":
            type_name = parent_type.name
            return (lambda _source, _info: type_name), _identity
        field_def = self.schema.get_field(parent_type, field_name)
        if field_def is None or field_def.args or node.arguments or not is_basic_strawberry_resolver(field_def.resolve):
            return None
        complete = leaf_completer(field_def.type) or self._composite_completer(field_def.type, field_details_list)
        if complete is None:
            return None
        definition = field_def.extensions.get(STRAWBERRY_DEFINITION)
        reader = getattr(definition, "attribute_reader", None)
        return (reader() if reader else field_def.resolve), complete

    def _composite_completer(self, type_: GraphQLOutputType, field_details_list: Any) -> Completer | None:
        """An object — a joined related row, a connection's edge and its node — or a list of them, whose whole
        selection is fast; None otherwise. Only a selection with no graphql-core field left anywhere in it
        qualifies, so a fallback (which completes the whole field again with graphql-core) never reports an error
        twice."""
        nullable = not isinstance(type_, GraphQLNonNull)
        inner = type_ if nullable else type_.of_type  # type: ignore[union-attr]
        if isinstance(inner, GraphQLList):
            item = self._composite_completer(inner.of_type, field_details_list)
            if item is None:
                return None
            return _list_of(item) if nullable else _non_null(_list_of(item))
        if not isinstance(inner, GraphQLObjectType):
            return None
        return self._object_completer(inner, nullable, field_details_list)

    def _object_completer(
        self, object_type: GraphQLObjectType, nullable: bool, field_details_list: Any
    ) -> Completer | None:
        grouped, new_defer_usages, _ = self.collect_subfields(object_type, field_details_list)
        plan = None if new_defer_usages else self._plan(object_type, grouped)
        if plan is None or plan.standard:
            return None
        is_type_of = object_type.is_type_of
        fields = list(plan.fast.items())  # all of the selection, in its order

        def complete(value: Any) -> Any:
            if value is None:
                if nullable:
                    return None
                raise _Fallback
            if is_type_of is not None and is_type_of(value, None) is not True:
                raise _Fallback
            return {name: complete_field(resolve(value, None)) for name, (resolve, complete_field) in fields}

        return complete


def _identity(value: Any) -> Any:
    return value
