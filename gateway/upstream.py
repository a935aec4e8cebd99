"""The gateway's side of Prefect: one pooled async HTTP client per event loop, the credential added to every request,
answers streamed back chunk by chunk, and an unreachable or slow Prefect turned into a clear 502 or 504.

Users never see Prefect's auth string: it is added here, upstream only.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import weakref
from collections.abc import AsyncIterator
from urllib.parse import urlsplit

import httpx
from django.conf import settings
from django.http import HttpResponse, JsonResponse, StreamingHttpResponse

logger = logging.getLogger(__name__)

# Not forwarded either way: hop-by-hop headers, the caller's credentials and cookies, and what httpx sets itself.
_REQUEST_HEADERS_DROPPED = frozenset(
    {"host", "cookie", "authorization", "content-length", "connection", "keep-alive", "te", "trailer",
     "transfer-encoding", "upgrade", "proxy-authorization", "x-csrftoken", "origin", "referer"}
)  # fmt: skip
_RESPONSE_HEADERS_KEPT = frozenset(
    {"content-type", "content-encoding", "content-length", "cache-control", "etag", "last-modified", "expires",
     "location", "content-disposition", "vary"}
)  # fmt: skip

_clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, httpx.AsyncClient] = weakref.WeakKeyDictionary()


def api_base() -> str:
    return settings.PREFECT_API_URL.rstrip("/")


def origin() -> str:
    """Prefect's scheme://host:port (its UI is served there under `/prefect`)."""
    parts = urlsplit(settings.PREFECT_API_URL)
    return f"{parts.scheme}://{parts.netloc}"


def auth_header() -> dict[str, str]:
    if not settings.PREFECT_API_AUTH_STRING:
        return {}
    return {"Authorization": "Basic " + base64.b64encode(settings.PREFECT_API_AUTH_STRING.encode()).decode()}


def client() -> httpx.AsyncClient:
    """The pooled client of the running event loop (uvicorn runs one per worker process)."""
    loop = asyncio.get_running_loop()
    current = _clients.get(loop)
    if current is None or current.is_closed:
        timeout = httpx.Timeout(settings.PREFECT_GATEWAY_TIMEOUT, connect=min(settings.PREFECT_GATEWAY_TIMEOUT, 5.0))
        current = httpx.AsyncClient(timeout=timeout, limits=httpx.Limits(max_connections=50), follow_redirects=False)
        _clients[loop] = current
    return current


def forwarded_headers(request_headers: dict[str, str]) -> dict[str, str]:
    headers = {key: value for key, value in request_headers.items() if key.lower() not in _REQUEST_HEADERS_DROPPED}
    return {**headers, **auth_header()}


def failure_response(exc: httpx.HTTPError, url: str) -> JsonResponse:
    """A clear JSON answer for a Prefect that cannot answer: 504 for a timeout, 502 for anything else."""
    if isinstance(exc, httpx.TimeoutException):
        status, error = 504, "prefect_timeout"
        detail = f"Prefect did not answer within {settings.PREFECT_GATEWAY_TIMEOUT:g}s ({type(exc).__name__})."
    else:
        status, error = 502, "prefect_unavailable"
        detail = f"Prefect could not be reached: {type(exc).__name__}."
    logger.warning("gateway: %s for %s: %r", error, url, exc)
    return JsonResponse({"error": error, "detail": detail}, status=status)


async def send(method: str, url: str, headers: dict[str, str], body: bytes) -> httpx.Response:
    """Send a request to Prefect and return as soon as the answer's headers arrive (the body is streamed)."""
    request = client().build_request(method, url, headers=forwarded_headers(headers), content=body or None)
    return await client().send(request, stream=True)


async def _body(response: httpx.Response) -> AsyncIterator[bytes]:
    try:
        async for chunk in response.aiter_raw():
            yield chunk
    except httpx.HTTPError as exc:  # headers were sent: the only thing left to do is to end the stream
        logger.warning("gateway: Prefect's answer to %s broke off: %r", response.request.url, exc)
    finally:
        await response.aclose()


def relay(response: httpx.Response, *, public_api_base: str) -> HttpResponse:
    """Prefect's answer as a streamed Django response: status, the headers that matter, the raw (maybe compressed)
    body chunk by chunk. A redirect into Prefect's API is pointed at the gateway's API instead."""
    relayed = StreamingHttpResponse(_body(response), status=response.status_code)
    for key, value in response.headers.items():
        if key.lower() in _RESPONSE_HEADERS_KEPT:
            relayed[key] = value
    location = response.headers.get("location", "")
    if location.startswith(api_base()):
        relayed["Location"] = public_api_base + location[len(api_base()) :]
    elif location.startswith(origin()):
        relayed["Location"] = location[len(origin()) :] or "/"
    return relayed
