"""The websockets of Prefect's UI (`/prefect/api/events/out`, `/prefect/api/logs/out`, …), proxied.

A plain ASGI application: `controlplane/asgi.py` hands it the websocket scopes under `/prefect/api/` (named in the
`ASGI_WEBSOCKET_APPLICATIONS` setting, so `controlplane` imports no domain app); Django's ASGI application serves
everything else. The user comes from the session cookie (Django's session store, read in Django's sync thread) or a
Bearer token; the route table decides as for HTTP; a cookie-authenticated socket must be opened by a page of ours
(`Origin`). Upstream, the gateway opens the same socket on Prefect, does Prefect's `auth` handshake itself with the
auth string, answers the browser's own `auth` message locally, then relays messages both ways until either side
closes.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable
from http.cookies import SimpleCookie
from importlib import import_module
from typing import Any
from urllib.parse import urlsplit

from asgiref.sync import sync_to_async
from django.conf import settings
from django.contrib.auth import get_user
from django.http import HttpRequest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from controlplane.access.services import authenticate_token
from controlplane.audit.actor import Actor
from gateway.audit import record_forwarded, record_refusal
from gateway.rights import Decision, decide
from gateway.routes import WEBSOCKET

logger = logging.getLogger(__name__)

PREFIX = "/prefect/api"
POLICY_VIOLATION = 1008
UPSTREAM_FAILED = 1011
Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


def _actor(headers: dict[str, str], client_ip: str | None) -> Actor | None:
    """The user behind a socket: a Bearer token, else the session cookie; None when neither is valid."""
    authorization = headers.get("authorization", "")
    user_agent = headers.get("user-agent", "")[:500]
    if authorization.lower().startswith("bearer "):
        token = authenticate_token(authorization[7:].strip())
        return Actor(user=token.user, token=token, ip_address=client_ip, user_agent=user_agent) if token else None
    if not _same_origin(headers):
        return None
    cookie = SimpleCookie(headers.get("cookie", "")).get(settings.SESSION_COOKIE_NAME)
    if cookie is None:
        return None
    request = HttpRequest()
    request.session = import_module(settings.SESSION_ENGINE).SessionStore(cookie.value)
    user = get_user(request)
    return Actor(user=user, ip_address=client_ip, user_agent=user_agent) if user.is_authenticated else None


def _same_origin(headers: dict[str, str]) -> bool:
    parts = urlsplit(headers.get("origin", ""))
    origin = f"{parts.scheme}://{parts.netloc}"
    return bool(parts.netloc) and (parts.netloc == headers.get("host") or origin in settings.CSRF_TRUSTED_ORIGINS)


def _authorize(headers: dict[str, str], path: str, client_ip: str | None) -> tuple[Actor | None, Decision | None]:
    actor = _actor(headers, client_ip)
    if actor is None:
        return None, None
    decision = decide(actor.has_perm, WEBSOCKET, path)
    if decision.audited:
        if decision.allowed:
            record_forwarded(actor, decision, 101)
        else:
            record_refusal(actor, decision)
    return actor, decision


def _upstream_url(path: str, query: bytes) -> str:
    api = urlsplit(settings.PREFECT_API_URL)
    scheme = "wss" if api.scheme == "https" else "ws"
    return f"{scheme}://{api.netloc}{api.path.rstrip('/')}{path}" + (f"?{query.decode()}" if query else "")


async def _open_upstream(url: str) -> ClientConnection:
    upstream = await connect(
        url, subprotocols=["prefect"], proxy=None, open_timeout=settings.PREFECT_GATEWAY_TIMEOUT, max_size=None
    )
    await upstream.send(json.dumps({"type": "auth", "token": settings.PREFECT_API_AUTH_STRING or None}))
    answer = json.loads(await asyncio.wait_for(upstream.recv(), settings.PREFECT_GATEWAY_TIMEOUT))
    if answer.get("type") != "auth_success":
        await upstream.close()
        raise ConnectionError(f"Prefect refused the gateway's websocket handshake: {answer}")
    return upstream


async def application(scope: Scope, receive: Receive, send: Send) -> None:
    if (await receive())["type"] != "websocket.connect":
        return
    headers = {key.decode("latin-1").lower(): value.decode("latin-1") for key, value in scope["headers"]}
    path = scope["path"][len(PREFIX) :]
    client_ip = (scope.get("client") or [None])[0]
    _, decision = await sync_to_async(_authorize)(headers, path, client_ip)
    if decision is None or not decision.allowed:
        reason = decision.reason if decision else "Log in to the control plane (session) or send an API token."
        await send({"type": "websocket.close", "code": POLICY_VIOLATION, "reason": reason[:120]})
        return
    try:
        upstream = await _open_upstream(_upstream_url(path, scope.get("query_string", b"")))
    except (OSError, TimeoutError, ConnectionClosed, ValueError) as exc:
        logger.warning("gateway: websocket %s to Prefect failed: %r", path, exc)
        await send({"type": "websocket.close", "code": UPSTREAM_FAILED, "reason": "Prefect is unavailable"})
        return
    prefect_protocol = "prefect" in scope.get("subprotocols", [])
    await send({"type": "websocket.accept", "subprotocol": "prefect" if prefect_protocol else None})
    async with upstream:
        if prefect_protocol and not await _answer_client_auth(receive, send):
            return
        await _relay(receive, send, upstream)


async def _answer_client_auth(receive: Receive, send: Send) -> bool:
    """The browser's `auth` message carries no secret of ours: acknowledge it here, never forward it."""
    message = await receive()
    if message["type"] != "websocket.receive":
        return False
    with contextlib.suppress(ValueError, TypeError):
        if json.loads(message.get("text") or message.get("bytes") or b"{}").get("type") == "auth":
            await send({"type": "websocket.send", "text": json.dumps({"type": "auth_success"})})
            return True
    await send({"type": "websocket.close", "code": POLICY_VIOLATION, "reason": "Expected 'auth' message"})
    return False


async def _relay(receive: Receive, send: Send, upstream: ClientConnection) -> None:
    async def client_to_prefect() -> None:
        while True:
            message = await receive()
            if message["type"] == "websocket.disconnect":
                return
            await upstream.send(message["text"] if message.get("text") is not None else message.get("bytes") or b"")

    async def prefect_to_client() -> None:
        with contextlib.suppress(ConnectionClosed):
            async for message in upstream:
                key = "text" if isinstance(message, str) else "bytes"
                await send({"type": "websocket.send", key: message})
        await send({"type": "websocket.close", "code": upstream.close_code or 1000})

    tasks = [asyncio.create_task(client_to_prefect()), asyncio.create_task(prefect_to_client())]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        with contextlib.suppress(Exception):
            await asyncio.gather(*tasks, return_exceptions=True)
