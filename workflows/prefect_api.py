"""The only module that talks to Prefect.

Everything else calls these functions and receives plain JSON-shaped dicts (exactly what the Prefect REST API
returned), so an unknown field from a newer Prefect is carried along instead of crashing a model validation.
Transient faults are retried a few times by Prefect's own client; anything still failing becomes one clear
`PrefectUnavailable`. A request Prefect refuses (4xx) becomes `PrefectRejected` with Prefect's own message.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
import os
import queue
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any, TypeVar
from uuid import UUID, uuid5

import httpx
import prefect.context
from django.conf import settings
from prefect.client.orchestration import SyncPrefectClient
from prefect.settings import PREFECT_API_AUTH_STRING, PREFECT_CLIENT_MAX_RETRIES, temporary_settings

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


# --- Health -------------------------------------------------------------------------------------------------------


def check_health() -> bool:
    """True when Prefect's API answers its health endpoint."""
    return _get("/health") is True


# --- Paged reads --------------------------------------------------------------------------------------------------


def iter_pages(path: str, body: JSON | None = None, page_size: int | None = None) -> Iterator[list[JSON]]:
    """Yield the pages of a Prefect `/…/filter` endpoint, one list at a time, until a short page."""
    size = min(page_size or settings.PREFECT_PAGE_SIZE, PAGE_SIZE_LIMIT)
    offset = 0
    while True:
        page = _post(path, {**(body or {}), "limit": size, "offset": offset})
        if page:
            yield page
        if len(page) < size:
            return
        offset += size


def iter_flow_runs(
    flow_run_filter: JSON | None = None, sort: str = "EXPECTED_START_TIME_ASC", page_size: int | None = None
) -> Iterator[list[JSON]]:
    """Pages of flow runs matching a Prefect `FlowRunFilter` (as JSON), e.g. `{"end_time": {"after_": "…"}}`."""
    body: JSON = {"sort": sort}
    if flow_run_filter:
        body["flow_runs"] = flow_run_filter
    return iter_pages("/flow_runs/filter", body, page_size)


def read_flow_runs_by_id(ids: list[UUID | str]) -> list[JSON]:
    """The flow runs with these ids that still exist in Prefect (missing ones are simply absent)."""
    found: list[JSON] = []
    for start in range(0, len(ids), PAGE_SIZE_LIMIT):
        chunk = [str(run_id) for run_id in ids[start : start + PAGE_SIZE_LIMIT]]
        found.extend(_post("/flow_runs/filter", {"flow_runs": {"id": {"any_": chunk}}, "limit": len(chunk)}))
    return found


def count_flow_runs(flow_run_filter: JSON | None = None) -> int:
    return _post("/flow_runs/count", {"flow_runs": flow_run_filter} if flow_run_filter else {})


def read_flow_run(flow_run_id: UUID | str) -> JSON:
    return _get(f"/flow_runs/{flow_run_id}")


def read_flow_run_states(flow_run_id: UUID | str) -> list[JSON]:
    with _client() as client:
        return client.request("GET", "/flow_run_states/", params={"flow_run_id": str(flow_run_id)}).json()


def read_many_flow_run_states(flow_run_ids: list[UUID | str], max_workers: int = 8) -> dict[str, list[JSON]]:
    """State histories of several runs at once (a sync's changed runs), fetched on a few threads sharing the
    process's client; a run gone from Prefect is left out."""

    def states_of(run_id: UUID | str) -> tuple[str, list[JSON] | None]:
        try:
            return str(run_id), read_flow_run_states(run_id)
        except PrefectNotFound:
            return str(run_id), None

    results = map_concurrently(states_of, flow_run_ids, max_workers)
    return {run_id: states for run_id, states in results if states is not None}


Item = TypeVar("Item")
Answer = TypeVar("Answer")


def map_concurrently(function: Callable[[Item], Answer], items: list[Item], max_workers: int = 8) -> list[Answer]:
    """`function(item)` for each item, on at most `max_workers` threads sharing the process's Prefect client (and
    its connection pool); answers in the order of `items`. An exception is raised from the first item that failed.

    `function` must not touch the database: a thread would open a connection of its own, outside the caller's
    transaction.
    """
    if not items:
        return []
    with session(), ThreadPoolExecutor(max_workers=max(1, min(max_workers, len(items)))) as pool:
        # Each task runs in a copy of this context, so it sees the session's client and settings.
        futures = [pool.submit(contextvars.copy_context().run, function, item) for item in items]
        return [future.result() for future in futures]


def iter_flows() -> Iterator[list[JSON]]:
    return iter_pages("/flows/filter", {"sort": "NAME_ASC"})


def iter_deployments() -> Iterator[list[JSON]]:
    return iter_pages("/deployments/filter", {"sort": "NAME_ASC"})


def iter_work_pools() -> Iterator[list[JSON]]:
    return iter_pages("/work_pools/filter", {})


def read_deployment(deployment_id: UUID | str) -> JSON:
    return _get(f"/deployments/{deployment_id}")


def _read_by_id(path: str, key: str, ids: list[UUID | str]) -> list[JSON]:
    found: list[JSON] = []
    for start in range(0, len(ids), PAGE_SIZE_LIMIT):
        chunk = [str(object_id) for object_id in ids[start : start + PAGE_SIZE_LIMIT]]
        found.extend(_post(path, {key: {"id": {"any_": chunk}}, "limit": len(chunk)}))
    return found


def read_flows_by_id(ids: list[UUID | str]) -> list[JSON]:
    return _read_by_id("/flows/filter", "flows", ids)


def read_deployments_by_id(ids: list[UUID | str]) -> list[JSON]:
    return _read_by_id("/deployments/filter", "deployments", ids)


def read_work_pools_by_id(ids: list[UUID | str]) -> list[JSON]:
    return _read_by_id("/work_pools/filter", "work_pools", ids)


def read_task_runs_by_id(ids: list[UUID | str]) -> list[JSON]:
    """Task runs by id; a subflow run names its parent flow run only through its parent task run's `flow_run_id`."""
    return _read_by_id("/task_runs/filter", "task_runs", ids)


# --- Writes -------------------------------------------------------------------------------------------------------


def create_flow_run_from_deployment(
    deployment_id: UUID | str,
    parameters: JSON,
    idempotency_key: str | None = None,
    tags: list[str] | None = None,
) -> JSON:
    """Create a run of a deployment. With the same idempotency key Prefect returns the existing run."""
    return create_or_find_flow_run(deployment_id, parameters, idempotency_key, tags)[0]


def create_or_find_flow_run(
    deployment_id: UUID | str, parameters: JSON, idempotency_key: str | None = None, tags: list[str] | None = None
) -> tuple[JSON, bool]:
    """`create_flow_run_from_deployment`, and whether this call created the run (201) rather than found the one its
    idempotency key names (200).

    Prefect creates runs of a paused deployment too: refusing those is the caller's job.
    """
    body: JSON = {"parameters": parameters, "state": {"type": "SCHEDULED", "name": "Scheduled"}}
    if idempotency_key:
        body["idempotency_key"] = idempotency_key
    if tags is not None:
        body["tags"] = tags
    with _client() as client:
        response = client.request("POST", f"/deployments/{deployment_id}/create_flow_run", json=body)
    return response.json(), response.status_code == 201


def set_flow_run_state(
    flow_run_id: UUID | str, state_type: str, name: str | None = None, message: str = "", force: bool = False
) -> JSON:
    """Propose a state; returns Prefect's orchestration result: `{"status": "ACCEPT"|"REJECT"|…, "state": …}`."""
    return _post(f"/flow_runs/{flow_run_id}/set_state", _state_body(flow_run_id, state_type, name, message, force))


def _state_body(flow_run_id: UUID | str, state_type: str, name: str | None, message: str, force: bool) -> JSON:
    state: JSON = {"type": state_type, "message": message}
    if name:
        state["name"] = name
    # The same transition id twice in a row is refused by Prefect (`PreventDuplicateTransitions`: REJECT with the
    # current state), so a repeated cancel leaves the run's one Cancelling state alone instead of adding another.
    state["state_details"] = {"transition_id": str(uuid5(_TRANSITION_NAMESPACE, f"{flow_run_id}:{state_type}"))}
    return {"state": state, "force": force}


_TRANSITION_NAMESPACE = UUID("6f1d3c52-6a0e-4c1e-9a8e-2b1d6c0f4a11")


def cancel_flow_run(flow_run_id: UUID | str, message: str = "") -> JSON:
    """Ask for cancellation. CANCELLING (never a forced CANCELLED) lets the worker stop the process cleanly."""
    return set_flow_run_state(flow_run_id, "CANCELLING", "Cancelling", message)


def retry_flow_run(flow_run_id: UUID | str, message: str = "") -> JSON:
    """Reschedule a finished run now, as Prefect's UI does for "Retry"."""
    return set_flow_run_state(flow_run_id, "SCHEDULED", AWAITING_RETRY, message, force=True)


AWAITING_RETRY = "AwaitingRetry"


def set_deployment_concurrency_limit(deployment_id: UUID | str, limit: int | None) -> None:
    _patch(f"/deployments/{deployment_id}", {"concurrency_limit": limit})


def set_work_pool_concurrency_limit(work_pool_name: str, limit: int | None) -> None:
    _patch(f"/work_pools/{work_pool_name}", {"concurrency_limit": limit})


def set_deployment_paused(deployment_id: UUID | str, paused: bool) -> None:
    """Pause (no new scheduled runs, manual triggers refused by the control plane) or resume a deployment."""
    _patch(f"/deployments/{deployment_id}", {"paused": paused})


# --- Logs ---------------------------------------------------------------------------------------------------------


def read_flow_run_logs(flow_run_id: UUID | str, after: str | None = None, limit: int = 200) -> list[JSON]:
    """Logs of a flow run (its tasks included), oldest first, strictly after the ISO timestamp `after`."""
    log_filter: JSON = {"flow_run_id": {"any_": [str(flow_run_id)]}}
    if after:
        log_filter["timestamp"] = {"after_": after}
    body = {"logs": log_filter, "sort": "TIMESTAMP_ASC", "limit": min(limit, PAGE_SIZE_LIMIT), "offset": 0}
    logs = _post("/logs/filter", body)
    if not after:
        return logs
    # Prefect's `after_` is inclusive; a tailing client passes the last timestamp it saw, perhaps spelt differently
    # ("Z" or "+00:00"), so compare instants rather than strings.
    seen_up_to = _instant(after)
    return [log for log in logs if _instant(log["timestamp"]) > seen_up_to]


def _instant(timestamp: str) -> datetime:
    instant = datetime.fromisoformat(timestamp.replace("Z", "+00:00"))
    return instant if instant.tzinfo else instant.replace(tzinfo=UTC)


# --- Events -------------------------------------------------------------------------------------------------------

FLOW_RUN_EVENT_PREFIX = "prefect.flow-run."
DEPLOYMENT_EVENT_PREFIX = "prefect.deployment."


def flow_run_event_as_json(event: Any) -> JSON | None:
    """The state change a `prefect.flow-run.*` event records, as a plain dict; None for other events.

    Prefect gives a state-change event the id of the state it entered, so `id` doubles as the state's id.
    """
    resource = event.resource
    resource_id = resource.id
    if not event.event.startswith(FLOW_RUN_EVENT_PREFIX) or not resource_id.startswith(FLOW_RUN_EVENT_PREFIX):
        return None
    payload = event.payload or {}
    initial = payload.get("initial_state") or {}
    validated = payload.get("validated_state") or {}
    return {
        "id": str(event.id),
        "event": event.event,
        "occurred": event.occurred.isoformat(),
        "flow_run_id": resource_id.removeprefix(FLOW_RUN_EVENT_PREFIX),
        "type": resource.get("prefect.state-type") or validated.get("type"),
        "name": resource.get("prefect.state-name") or validated.get("name"),
        "timestamp": resource.get("prefect.state-timestamp") or event.occurred.isoformat(),
        "message": resource.get("prefect.state-message") or validated.get("message") or "",
        "from_type": initial.get("type") or (payload.get("intended") or {}).get("from") or "",
        "from_name": initial.get("name") or "",
    }


def deployment_event_as_json(event: Any) -> JSON | None:
    """A `prefect.deployment.*` event (created, updated — paused or resumed among them —, deleted, ready, …) as
    `{"id", "event", "occurred", "deployment_id"}`; None for other events."""
    resource_id = event.resource.id
    if not event.event.startswith(DEPLOYMENT_EVENT_PREFIX) or not resource_id.startswith(DEPLOYMENT_EVENT_PREFIX):
        return None
    deployment_id = resource_id.removeprefix(DEPLOYMENT_EVENT_PREFIX)
    return {"id": str(event.id), "event": event.event, "occurred": event.occurred.isoformat(),
            "deployment_id": deployment_id}  # fmt: skip


class FlowRunEventStream:
    """`prefect.flow-run.*` events (as `flow_run_event_as_json`) and `prefect.deployment.*` events (as
    `deployment_event_as_json`) from Prefect's websocket, delivered to synchronous code as plain dicts.

    The subscriber is asyncio; it runs on a thread of its own and hands events over through a queue, so Django ORM
    code can consume them with `get()`. Prefect's subscriber backfills the minute before it connects and retries
    dropped connections itself; once it gives up, `get()` raises `PrefectUnavailable` and the caller reopens.

        with FlowRunEventStream() as stream:
            event = stream.get(timeout=1.0)  # None when nothing arrived
    """

    def __init__(self, reconnection_attempts: int = 3, max_queued: int = 10_000) -> None:
        self.reconnection_attempts = reconnection_attempts
        self._events: queue.Queue[JSON] = queue.Queue(maxsize=max_queued)
        self._failure: BaseException | None = None
        self._connected = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[None] | None = None
        self._thread = threading.Thread(target=self._run, name="prefect-events", daemon=True)

    def __enter__(self) -> FlowRunEventStream:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._loop and self._task and self._thread.is_alive():
            with contextlib.suppress(RuntimeError):  # the loop closed on its own meanwhile
                self._loop.call_soon_threadsafe(self._task.cancel)
        self._thread.join(timeout=10)

    def wait_connected(self, timeout: float) -> bool:
        """True once the websocket is open and filtered (events from then on will arrive)."""
        deadline = time.monotonic() + timeout
        while not self._connected.wait(0.1):
            if self._failure or time.monotonic() > deadline:
                return False
        return True

    def get(self, timeout: float) -> JSON | None:
        try:
            return self._events.get(timeout=timeout)
        except queue.Empty:
            if self._failure is not None or not self._thread.is_alive():
                raise PrefectUnavailable(
                    f"the Prefect event stream at {api_url()} closed: {self._failure or 'subscriber stopped'}"
                ) from self._failure
            return None

    def _run(self) -> None:
        self._loop = asyncio.new_event_loop()
        try:
            self._task = self._loop.create_task(self._pump())
            self._loop.run_until_complete(self._task)
        except asyncio.CancelledError:
            pass
        except BaseException as exc:  # handed to the consumer thread, which raises it as PrefectUnavailable
            self._failure = exc
        finally:
            self._loop.close()

    async def _pump(self) -> None:
        from prefect.events.clients import PrefectEventSubscriber
        from prefect.events.filters import EventFilter, EventNameFilter

        event_filter = EventFilter(event=EventNameFilter(prefix=[FLOW_RUN_EVENT_PREFIX, DEPLOYMENT_EVENT_PREFIX]))
        auth = {PREFECT_API_AUTH_STRING: settings.PREFECT_API_AUTH_STRING} if settings.PREFECT_API_AUTH_STRING else {}
        with temporary_settings(auth):
            subscriber = PrefectEventSubscriber(
                api_url=api_url(), filter=event_filter, reconnection_attempts=self.reconnection_attempts
            )
            async with subscriber:
                self._connected.set()
                async for event in subscriber:
                    as_json = flow_run_event_as_json(event) or deployment_event_as_json(event)
                    if as_json is not None:
                        await asyncio.to_thread(self._events.put, as_json)
        self._failure = PrefectUnavailable("the event stream ended")
