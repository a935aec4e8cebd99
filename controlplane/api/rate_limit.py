"""Per-caller budgets for the GraphQL API: so many queries and so many mutations a minute for each API token, each
session user, and each anonymous address (`API_RATE_LIMIT_QUERIES`, `API_RATE_LIMIT_MUTATIONS`; 0 = no limit).

A request over its budget answers 429 with `Retry-After` (the seconds left in the window) before anything runs.
Budgets count in fixed one-minute windows in the shared cache (Redis in production: an atomic counter, so every web
process shares it). The first refusal of a caller in a window is audited (`api.rate_limited`, with the budget) and
logged; the rest of that window's refusals are not, so a runaway script cannot flood the audit log.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import time
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest
from graphql import OperationDefinitionNode, OperationType, parse
from graphql.error import GraphQLSyntaxError

from controlplane.audit.actor import Actor, client_ip
from controlplane.audit.services import record_denied

logger = logging.getLogger(__name__)

WINDOW_SECONDS = 60
QUERY, MUTATION = "query", "mutation"


@dataclass(frozen=True)
class Refusal:
    retry_after: int
    budget: int
    kind: str


def check(request: HttpRequest) -> Refusal | None:
    """Count this request against its caller's budget; a `Refusal` when it is over."""
    kind = _operation_kind(request)
    budget = settings.API_RATE_LIMIT_MUTATIONS if kind == MUTATION else settings.API_RATE_LIMIT_QUERIES
    if budget <= 0:
        return None
    now = time.time()
    window = int(now // WINDOW_SECONDS)
    key = f"ratelimit:{kind}:{_caller(request)}:{window}"
    try:
        cache.add(key, 0, timeout=WINDOW_SECONDS * 2)
        count = cache.incr(key)
    except (ValueError, ConnectionError, OSError) as exc:  # a broken cache must not take the API down
        logger.warning("rate limit not checked, the cache failed: %s", exc)
        return None
    if count <= budget:
        return None
    refusal = Refusal(retry_after=max(1, int((window + 1) * WINDOW_SECONDS - now)), budget=budget, kind=kind)
    if count == budget + 1:
        _audit(request, refusal)
    return refusal


def _caller(request: HttpRequest) -> str:
    """Who the budget belongs to, without a database query (a refused request must cost none): the API token (the
    middleware has looked it up already), else the session (its cookie, hashed), else the address."""
    token = getattr(request, "api_token", None)
    if token is not None:
        return f"token:{token.pk}"
    session_key = request.COOKIES.get(settings.SESSION_COOKIE_NAME)
    if session_key:
        return f"session:{hashlib.sha256(session_key.encode()).hexdigest()[:32]}"
    return f"ip:{client_ip(request)}"


def _operation_kind(request: HttpRequest) -> str:
    try:
        body = json.loads(request.body or b"{}")
    except (ValueError, UnicodeDecodeError):
        return QUERY  # strawberry refuses it; it still counts
    if not isinstance(body, dict) or not isinstance(body.get("query"), str):
        return QUERY
    name = body.get("operationName") if isinstance(body.get("operationName"), str) else None
    return MUTATION if _is_mutation(body["query"], name) else QUERY


@functools.lru_cache(maxsize=512)
def _is_mutation(document: str, operation_name: str | None) -> bool:
    """True when the operation that would run is a mutation (documents are few and repeat: parsed once each)."""
    if len(document) > settings.DATA_UPLOAD_MAX_MEMORY_SIZE:
        return False
    try:
        parsed = parse(document, max_tokens=settings.GRAPHQL_MAX_TOKENS)
    except GraphQLSyntaxError:
        return False
    operations = [node for node in parsed.definitions if isinstance(node, OperationDefinitionNode)]
    chosen = [op for op in operations if operation_name is None or (op.name and op.name.value == operation_name)]
    return any(op.operation is OperationType.MUTATION for op in chosen[:1])


def _audit(request: HttpRequest, refusal: Refusal) -> None:
    message = f"More than {refusal.budget} {refusal.kind}s a minute; refused for {refusal.retry_after}s."
    logger.warning("rate limited %s: %s", _caller(request), message)
    record_denied(
        Actor.from_request(request),
        "api.rate_limited",
        message,
        target_type="graphql",
        target_id=refusal.kind,
        after={"budget_per_minute": refusal.budget, "retry_after_seconds": refusal.retry_after},
    )
