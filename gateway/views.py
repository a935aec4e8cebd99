"""Prefect's UI and API under `/prefect/`, behind the control plane's login (see docs/architecture.md, "Gateway").

- `/prefect/api/<path>`: Prefect's API. A session (the browser, the UI) or an API token; anonymous → 401 JSON. Each
  request is decided by the route table (`rights.decide`): refused → 403 JSON with the reason; every request that
  is not a read is audited, refused ones too. The auth string is added upstream; the answer is streamed back.
- `/prefect/ui-settings`: answered here, with the gateway's API URL and no `"auth": "BASIC"`, so Prefect's UI talks
  to the gateway and never asks for the password.
- `/prefect/<path>`: the UI's pages and assets (GET/HEAD); anonymous → the admin login.

Async views (served by uvicorn): the check of an API request (user, permissions, audit of a refusal) is one hop to
Django's sync thread; the proxying does not hold one. Under ASGI, `gateway/fast_path.py` serves `/prefect/api/`
with the same `check_api_request` and `forward_api_request`, without Django's middleware chain. The CSRF middleware
is skipped (Prefect's UI sends no Django CSRF token); a session request that changes something must come from the
control plane's own origin instead (`Origin`, else `Referer`).
"""

from __future__ import annotations

import logging
from urllib.parse import urlsplit

import httpx
from asgiref.sync import sync_to_async
from django.conf import settings
from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from controlplane.audit.actor import Actor
from gateway import upstream
from gateway.audit import record_forwarded, record_refusal
from gateway.rights import Decision, decide
from gateway.routes import VIEW, check_prefect_version

logger = logging.getLogger(__name__)

PREFIX = "/prefect"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_RESULT_ID_MAX_BYTES = 1024 * 1024
_served_version_checked = False


def _error(status: int, error: str, detail: str, **more: str) -> JsonResponse:
    return JsonResponse({"error": error, "detail": detail, **more}, status=status)


def _same_origin(request: HttpRequest) -> bool:
    """A session request that changes something must come from a page of ours (CSRF, without Django's token)."""
    if getattr(request, "api_token", None) is not None:
        return True
    source = request.headers.get("Origin") or request.headers.get("Referer") or ""
    parts = urlsplit(source)
    origin = f"{parts.scheme}://{parts.netloc}"
    return bool(parts.netloc) and (parts.netloc == request.get_host() or origin in settings.CSRF_TRUSTED_ORIGINS)


def check_api_request(request: HttpRequest, path: str) -> tuple[Actor, Decision] | HttpResponse:
    """In Django's sync thread, once per request: who asks (the user is resolved here, the session read if it is
    one), whether they may, and the refusal to send if not (a refusal of anything but a read is audited here)."""
    if not request.user.is_authenticated:
        response = _error(401, "unauthenticated", "Log in to the control plane, or send an API token (Bearer).")
        response["WWW-Authenticate"] = "Bearer"
        return response
    method = request.method or "GET"
    if method not in SAFE_METHODS and not _same_origin(request):
        return _error(403, "cross_origin", "A change through a session must come from the control plane's own pages.")
    actor = Actor.from_request(request)
    decision = decide(actor.has_perm, method, "/" + path, request.META.get("QUERY_STRING", ""), request.body)
    if not decision.allowed:
        if decision.audited:
            record_refusal(actor, decision)
        return _error(403, "forbidden", decision.reason, route=f"{method} {decision.route}", needs=decision.permission)
    return actor, decision


@csrf_exempt
async def prefect_api(request: HttpRequest, path: str) -> HttpResponse:
    checked = await sync_to_async(check_api_request)(request, path)
    if isinstance(checked, HttpResponse):
        return checked
    return await forward_api_request(request, path, *checked)


async def forward_api_request(request: HttpRequest, path: str, actor: Actor, decision: Decision) -> HttpResponse:
    """An allowed request, sent to Prefect; its answer streamed back (a change's read whole and audited)."""
    method = request.method or "GET"
    url = f"{upstream.api_base()}/{path}" + (f"?{decision.query}" if decision.query else "")
    try:
        response = await upstream.send(method, url, dict(request.headers), decision.body)
    except httpx.HTTPError as exc:
        if decision.audited:
            await sync_to_async(record_forwarded)(actor, decision, 502, message=f"Prefect unreachable: {exc!r}")
        return upstream.failure_response(exc, url)
    if decision.audited:
        return await _audited(actor, decision, response, request)
    relayed = upstream.relay(response, public_api_base=request.build_absolute_uri(f"{PREFIX}/api"))
    if decision.secrets_stripped:
        relayed["X-Gateway-Secrets-Stripped"] = "true"
    return relayed


async def _audited(actor: Actor, decision: Decision, response: httpx.Response, request: HttpRequest) -> HttpResponse:
    """A change: read Prefect's (small) answer whole, so the audit event can name what it created, then answer."""
    try:
        content = await response.aread()
    except httpx.HTTPError as exc:
        await sync_to_async(record_forwarded)(actor, decision, 502, message=f"Prefect's answer broke off: {exc!r}")
        return upstream.failure_response(exc, str(response.request.url))
    finally:
        await response.aclose()
    result_id, message = "", ""
    if len(content) <= _RESULT_ID_MAX_BYTES:
        try:
            document = response.json()
        except ValueError:
            document = None
        if isinstance(document, dict):
            result_id = str(document.get("id") or "")
            message = str(document.get("detail") or "")[:500] if response.status_code >= 400 else ""
    await sync_to_async(record_forwarded)(actor, decision, response.status_code, result_id, message)
    # `content` is decoded already: no Content-Encoding goes with it.
    return HttpResponse(content, status=response.status_code, content_type=response.headers.get("content-type"))


async def _ui_user_or_refusal(request: HttpRequest) -> HttpResponse | None:
    user = await request.auser()
    if not user.is_authenticated:
        return redirect_to_login(request.get_full_path())
    if not await sync_to_async(user.has_perm)(VIEW):
        return HttpResponse("Your role may not see Prefect.", status=403, content_type="text/plain")
    return None


async def ui_settings(request: HttpRequest) -> HttpResponse:
    refusal = await _ui_user_or_refusal(request)
    if refusal is not None:
        return refusal
    url = f"{upstream.origin()}{PREFIX}/ui-settings"
    try:
        response = await upstream.client().get(url, headers=upstream.auth_header())
    except httpx.HTTPError as exc:
        return upstream.failure_response(exc, url)
    if response.status_code != 200:
        return _error(502, "prefect_ui_settings", f"Prefect answered {response.status_code} for its UI settings.")
    await _check_served_version()
    document = response.json()
    document.update(api_url=request.build_absolute_uri(f"{PREFIX}/api"), auth=None, csrf_enabled=False)
    return JsonResponse(document)


async def _check_served_version() -> None:
    """Once per process, when the UI first loads: the version Prefect serves (`/admin/version`; `/version` is the
    API's own version) against the route table's."""
    global _served_version_checked
    if _served_version_checked:
        return
    _served_version_checked = True
    try:
        answer = await upstream.client().get(f"{upstream.api_base()}/admin/version", headers=upstream.auth_header())
        check_prefect_version(str(answer.json()), "served")
    except (httpx.HTTPError, ValueError) as exc:
        logger.warning("gateway: could not read the version Prefect serves: %r", exc)


async def prefect_ui(request: HttpRequest, path: str) -> HttpResponse:
    if request.method not in ("GET", "HEAD"):
        return HttpResponseNotAllowed(["GET", "HEAD"])
    refusal = await _ui_user_or_refusal(request)
    if refusal is not None:
        return refusal
    query = request.META.get("QUERY_STRING", "")
    url = f"{upstream.origin()}{PREFIX}/{path}" + (f"?{query}" if query else "")
    try:
        response = await upstream.send(request.method, url, dict(request.headers), b"")
    except httpx.HTTPError as exc:
        return upstream.failure_response(exc, url)
    return upstream.relay(response, public_api_base=request.build_absolute_uri(f"{PREFIX}/api"))
