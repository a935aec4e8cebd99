"""The root GraphQL schema, composed from the parts `settings.GRAPHQL_QUERY_TYPES` and `GRAPHQL_MUTATION_TYPES`
name (each a strawberry type in the room or app that owns it), with the hardening extensions of
`controlplane.api.extensions`. Nothing here imports a domain app: the settings name them, so imports run one way.
The order of the parts is the order of the root fields in the SDL (`schema.graphql`).
"""

from __future__ import annotations

import logging

import strawberry
from django.conf import settings
from django.utils.module_loading import import_string
from strawberry.schema.config import StrawberryConfig
from strawberry.tools import merge_types

from controlplane.api.executor import FastLeafExecutor, internals_available
from controlplane.api.extensions import schema_extensions

logger = logging.getLogger(__name__)


def build_schema(fast_executor: bool | None = None) -> strawberry.Schema:
    """The schema; `fast_executor` (default `settings.GRAPHQL_FAST_EXECUTOR`) picks our leaf executor or
    strawberry's standard one (controlplane/api/executor.py says what the first buys)."""
    use_fast = settings.GRAPHQL_FAST_EXECUTOR if fast_executor is None else fast_executor
    if use_fast and not internals_available():
        logger.warning(
            "GraphQL fast executor is off: the installed graphql-core/strawberry differ from the versions it was "
            "written for (requirements/constraints.txt); running strawberry's standard executor."
        )
        use_fast = False
    return strawberry.Schema(
        query=merge_types("Query", tuple(import_string(path) for path in settings.GRAPHQL_QUERY_TYPES)),
        mutation=merge_types("Mutation", tuple(import_string(path) for path in settings.GRAPHQL_MUTATION_TYPES)),
        extensions=schema_extensions(),
        execution_context_class=FastLeafExecutor if use_fast else None,
        config=StrawberryConfig(
            relay_max_results=settings.GRAPHQL_MAX_PAGE_SIZE,
            disable_field_suggestions=not settings.GRAPHQL_INTROSPECTION,
        ),
    )


schema = build_schema()
