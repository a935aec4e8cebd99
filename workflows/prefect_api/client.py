"""The one Prefect client per process (kept open, rebuilt after a fork), its sessions, and how Prefect's errors
become ours."""

from __future__ import annotations

import contextlib
import logging
import os
import threading
from collections.abc import Iterator
from contextvars import ContextVar
from typing import Any

import httpx
import prefect.context
from django.conf import settings
from prefect.client.orchestration import SyncPrefectClient
from prefect.settings import PREFECT_CLIENT_MAX_RETRIES

logger = logging.getLogger(__name__)

PAGE_SIZE_LIMIT = 200  # Prefect answers 422 to a larger page.
JSON = dict[str, Any]


class PrefectError(Exception):
    """Base class of the errors this module raises."""


class PrefectUnavailable(PrefectError):
    """Prefect could not be reached, timed out, or failed on its side (5xx)."""


class PrefectRejected(PrefectError):
    """Prefect answered, and said no (4xx): bad input, unknown id, refused transition."""

    def __init__(self, message: str, status_code: int) -> None:
        super().__init__(message)
        self.status_code = status_code


class PrefectNotFound(PrefectRejected):
    """The object does not exist in Prefect."""


def api_url() -> str:
    return settings.PREFECT_API_URL


# The client of an open `session()`: calls inside it reuse one connection instead of building a client each time.
_session_client: ContextVar[SyncPrefectClient | None] = ContextVar("prefect_session_client", default=None)


@contextlib.contextmanager
def _client() -> Iterator[SyncPrefectClient]:
    """The process's kept client (see `_kept_session_client`), inside or outside an explicit `session()`.

    A call outside a session opens a one-call session on the same kept client, so no request path ever builds a
    client after the process's first call. Errors become `PrefectUnavailable` / `PrefectRejected` either way.
    """
    with session(), _translated_errors():
        client = _session_client.get()
        assert client is not None  # session() always sets it
        yield client


@contextlib.contextmanager
def _translated_errors() -> Iterator[None]:
    try:
        yield
    except httpx.HTTPStatusError as exc:
        raise _translate_status_error(exc) from exc
    except httpx.TransportError as exc:
        raise PrefectUnavailable(f"Prefect API at {api_url()} is unreachable: {exc}") from exc


# One client per process and configuration, kept open for the life of the process: building a `SyncPrefectClient`
# costs ~0.1 s (settings copy + TLS context), and its httpx pool keeps connections alive between requests. Keyed by
# pid, so a gunicorn worker or Celery prefork child forked from a parent that already had one builds its own (the
# parent's sockets are never shared across a fork). httpx clients are thread-safe for requests: the sync's threads
# and a bulk operation's threads share it.
_kept_client: tuple[tuple[Any, ...], SyncPrefectClient, Any] | None = None
_kept_client_lock = threading.Lock()


def _client_key() -> tuple[Any, ...]:
    return (os.getpid(), api_url(), settings.PREFECT_API_AUTH_STRING, settings.PREFECT_API_TIMEOUT,
            settings.PREFECT_API_CONNECT_TIMEOUT, settings.PREFECT_CLIENT_MAX_RETRIES)  # fmt: skip


def _kept_session_client() -> tuple[SyncPrefectClient, Any]:
    global _kept_client
    key = _client_key()
    kept = _kept_client
    if kept is not None and kept[0] == key:  # the common case, without taking the lock
        return kept[1], kept[2]
    with _kept_client_lock:
        if _kept_client is not None and _kept_client[0] == key:
            return _kept_client[1], _kept_client[2]
        client, client_settings = _new_client()
        if _kept_client is not None and _kept_client[0][0] == key[0]:
            with contextlib.suppress(Exception):
                _kept_client[1].__exit__(None, None, None)
        _kept_client = (key, client, client_settings)
        return client, client_settings


def _new_client() -> tuple[SyncPrefectClient, Any]:
    """A client with few retries and short connect timeouts, so an outage fails fast and clearly."""
    context = prefect.context.get_settings_context()
    client_settings = context.settings.copy_with_update(
        updates={PREFECT_CLIENT_MAX_RETRIES: settings.PREFECT_CLIENT_MAX_RETRIES}
    )
    timeout = httpx.Timeout(settings.PREFECT_API_TIMEOUT, connect=settings.PREFECT_API_CONNECT_TIMEOUT)
    with prefect.context.SettingsContext(profile=context.profile, settings=client_settings):
        client = SyncPrefectClient(
            api_url(), auth_string=settings.PREFECT_API_AUTH_STRING or None, httpx_settings={"timeout": timeout}
        )
        try:
            client.__enter__()
        except (httpx.TransportError, RuntimeError) as exc:
            raise PrefectUnavailable(f"Prefect API at {api_url()} is unreachable: {exc}") from exc
    return client, client_settings


@contextlib.contextmanager
def session() -> Iterator[None]:
    """Let every call inside the block share the process's kept client (with its connection pool).

    Calls outside a session use the same kept client too; a session only saves re-entering the settings context
    per call. Errors are translated exactly as outside a session. Nested sessions reuse the outer one.
    """
    if _session_client.get() is not None:
        yield
        return
    client, client_settings = _kept_session_client()
    context = prefect.context.get_settings_context()
    with prefect.context.SettingsContext(profile=context.profile, settings=client_settings):
        token = _session_client.set(client)
        try:
            yield
        finally:
            _session_client.reset(token)


def _translate_status_error(exc: httpx.HTTPStatusError) -> PrefectError:
    status = exc.response.status_code
    try:
        detail = exc.response.json().get("detail", exc.response.text)
    except ValueError:
        detail = exc.response.text
    if status >= 500:
        return PrefectUnavailable(f"Prefect API at {api_url()} failed with {status}: {detail}")
    if status == 404:
        return PrefectNotFound(f"Not found in Prefect: {detail}", status)
    return PrefectRejected(f"Prefect refused the request ({status}): {detail}", status)


def _post(path: str, body: JSON) -> Any:
    with _client() as client:
        return client.request("POST", path, json=body).json()


def _get(path: str) -> Any:
    with _client() as client:
        return client.request("GET", path).json()


def _patch(path: str, body: JSON) -> None:
    with _client() as client:
        client.request("PATCH", path, json=body)
