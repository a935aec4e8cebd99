"""`/prefect/api/` served without Django's middleware chain: the gateway's hot path (see docs/architecture.md,
"Gateway", for the figures).

Through Django's ASGI handler every API request crossed ten middleware, most of them sync-only, and so went from the
event loop to a thread made for that request (a new thread, hence a new database connection, per request) and back
several times before the view ran, then again for the permission check. Here the request is built once
(`ASGIRequest`), and ONE hop to Django's sync thread authenticates it (an API token through
`authenticate_token`, else the session cookie through Django's session engine and `get_user`, which checks the
session's auth hash, so a logout or a password change applies at the next request), decides it
(`views.check_api_request`: the same refusals, audit and same-origin rule as the Django view) and computes the
session's response headers; then the answer is streamed from Prefect exactly as the view does
(`views.forward_api_request`). No cache: every request reads its token or session.

What Django's middleware would have added to these answers is added by the same middleware's `process_response`
(security headers, `X-Frame-Options`, the session's `Vary: Cookie` and any cookie it must set or delete). A request
this path would answer differently from Django — a host not in `ALLOWED_HOSTS`, an HTTP request to be redirected to
HTTPS, a body over `DATA_UPLOAD_MAX_MEMORY_SIZE` — is handed to Django's application as it came. Named in
`ASGI_HTTP_APPLICATIONS` (`controlplane/asgi.py`); `GATEWAY_FAST_PATH=false` turns it off.
"""

from __future__ import annotations

import io
import logging
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from importlib import import_module
from typing import Any

from asgiref.sync import sync_to_async
from django.conf import settings
from django.contrib.auth import get_user
from django.contrib.sessions.middleware import SessionMiddleware
from django.core.exceptions import DisallowedHost, RequestDataTooBig
from django.core.handlers.asgi import ASGIRequest
from django.db import connections
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.middleware.clickjacking import XFrameOptionsMiddleware
from django.middleware.security import SecurityMiddleware
from django.utils.cache import patch_vary_headers

from controlplane.access.middleware import BEARER
from controlplane.access.services import authenticate_token
from controlplane.audit.actor import Actor
from gateway.rights import Decision
from gateway.views import check_api_request, forward_api_request

logger = logging.getLogger(__name__)

PREFIX = "/prefect/api/"
Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApplication = Callable[[Scope, Receive, Send], Awaitable[None]]
_thread_connections = threading.local()  # alias → (the raw connection, when this thread first saw it)


@dataclass
class Checked:
    """What the one sync hop found: the refusal to send, or who may do what; and the session's response headers."""

    refusal: HttpResponse | None
    allowed: tuple[Actor, Decision] | None
    session_headers: HttpResponse | None


def make_application(django_application: ASGIApplication) -> ASGIApplication:
    """The fast path for `/prefect/api/` HTTP requests, handing Django what it should answer itself."""

    async def application(scope: Scope, receive: Receive, send: Send) -> None:
        body, whole = await _read_body(receive)
        request = ASGIRequest(scope, io.BytesIO(body))
        if not whole or _for_django(request):
            return await django_application(scope, _replayed(body, whole, receive), send)
        try:
            response = await _answer(request)
        except Exception:
            logger.exception("gateway: %s %s failed", request.method, request.path)
            response = JsonResponse({"error": "internal", "detail": "The gateway failed; see its log."}, status=500)
        await _send(response, send)

    return application


async def _read_body(receive: Receive) -> tuple[bytes, bool]:
    """The request body, and whether it is whole: False when the client went away or it outgrew the upload limit."""
    chunks: list[bytes] = []
    size, limit = 0, settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return b"".join(chunks), False
        chunks.append(message.get("body", b""))
        size += len(chunks[-1])
        if not message.get("more_body", False):
            return b"".join(chunks), True
        if limit is not None and size > limit:
            return b"".join(chunks), False


def _replayed(body: bytes, whole: bool, receive: Receive) -> Receive:
    """`receive` with the part of the body already read given back first."""
    replayed = False

    async def replay() -> Message:
        nonlocal replayed
        if replayed:
            return await receive()
        replayed = True
        return {"type": "http.request", "body": body, "more_body": not whole}

    return replay


def _for_django(request: ASGIRequest) -> bool:
    """A host or a body size Django refuses, or an HTTPS redirect Django's SecurityMiddleware sends: Django answers."""
    try:
        request.get_host()
        request.body  # noqa: B018  (reading it checks DATA_UPLOAD_MAX_MEMORY_SIZE)
    except (DisallowedHost, RequestDataTooBig):
        return True
    return SecurityMiddleware(_no_view).process_request(request) is not None


async def _answer(request: ASGIRequest) -> HttpResponse:
    checked = await sync_to_async(_check)(request)
    if checked.allowed is not None:
        response = await forward_api_request(request, request.path[len(PREFIX) :], *checked.allowed)
    else:
        assert checked.refusal is not None
        response = checked.refusal
    _add_django_headers(request, response, checked.session_headers)
    return response


def _check(request: ASGIRequest) -> Checked:
    """The one hop to Django's sync thread."""
    _close_obsolete_connections()
    try:
        refusal = _authenticate(request)
        checked = refusal if refusal is not None else check_api_request(request, request.path[len(PREFIX) :])
        session_headers = _session_headers(request)
    except Exception:
        connections.close_all()
        raise
    _close_obsolete_connections()
    if isinstance(checked, HttpResponse):
        return Checked(refusal=checked, allowed=None, session_headers=session_headers)
    return Checked(refusal=None, allowed=checked, session_headers=session_headers)


def _close_obsolete_connections() -> None:
    """Django's rule between requests (`close_old_connections`: `CONN_MAX_AGE`, health checks, errors), except for a
    connection Django would close after every request (`CONN_MAX_AGE` 0, SQLite's here): this thread lives as long as
    the process, unlike the thread Django's handler makes per request, so it keeps that connection for
    `GATEWAY_DB_CONNECTION_SECONDS` — opening a SQLite connection (its pragmas and functions) was the largest part
    of the gateway's overhead."""
    now = time.monotonic()
    opened_at = _thread_connections.__dict__
    for connection in connections.all(initialized_only=True):
        if connection.settings_dict["CONN_MAX_AGE"] != 0:
            connection.close_if_unusable_or_obsolete()
        elif connection.connection is None:
            opened_at.pop(connection.alias, None)
        elif opened_at.get(connection.alias, (None,))[0] is not connection.connection:
            opened_at[connection.alias] = (connection.connection, now)
        elif now - opened_at[connection.alias][1] >= settings.GATEWAY_DB_CONNECTION_SECONDS:
            connection.close()


def _authenticate(request: ASGIRequest) -> HttpResponse | None:
    """`request.user` and `request.api_token` as Django's middleware would set them; a bad token is refused (401)
    as `BearerTokenMiddleware` refuses it."""
    request.api_token = None
    header = request.META.get("HTTP_AUTHORIZATION", "")
    if header[: len(BEARER)].lower() == BEARER:
        token = authenticate_token(header[len(BEARER) :].strip())
        if token is None:
            response = JsonResponse({"errors": [{"message": "Invalid, expired or revoked API token."}]}, status=401)
            response["WWW-Authenticate"] = 'Bearer error="invalid_token"'
            return response
        request.user, request.api_token = token.user, token
        return None
    session_key = request.COOKIES.get(settings.SESSION_COOKIE_NAME)
    request.session = import_module(settings.SESSION_ENGINE).SessionStore(session_key)
    request.user = get_user(request)
    return None


def _session_headers(request: HttpRequest) -> HttpResponse | None:
    """The `Vary` and cookies Django's SessionMiddleware would add (and the session it would save, if `get_user`
    changed it), collected on a blank response."""
    if not hasattr(request, "session"):
        return None
    blank = HttpResponse()
    return SessionMiddleware(_no_view).process_response(request, blank)


def _add_django_headers(request: HttpRequest, response: HttpResponse, session_headers: HttpResponse | None) -> None:
    if session_headers is not None:
        if session_headers.has_header("Vary"):
            patch_vary_headers(response, [v.strip() for v in session_headers["Vary"].split(",")])
        response.cookies.update(session_headers.cookies)
    SecurityMiddleware(_no_view).process_response(request, response)
    XFrameOptionsMiddleware(_no_view).process_response(request, response)
    if not response.streaming and not response.has_header("Content-Length"):
        response["Content-Length"] = str(len(response.content))


async def _send(response: HttpResponse, send: Send) -> None:
    headers = [(key.encode("latin-1"), value.encode("latin-1")) for key, value in response.items()]
    for cookie in response.cookies.values():
        headers.append((b"set-cookie", cookie.output(header="").strip().encode("latin-1")))
    await send({"type": "http.response.start", "status": response.status_code, "headers": headers})
    if not response.streaming:
        await send({"type": "http.response.body", "body": response.content})
        return
    chunks = aiter(response.streaming_content)
    try:
        async for chunk in chunks:
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body"})
    finally:
        await _close(chunks)
        response.close()


async def _close(chunks: Any) -> None:
    close = getattr(chunks, "aclose", None)
    if close is not None:
        await close()


def _no_view(request: HttpRequest) -> HttpResponse:
    raise AssertionError("the fast path calls the middleware's hooks only")
