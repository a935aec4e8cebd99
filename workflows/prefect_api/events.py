"""Prefect's flow-run and deployment events, from its websocket to synchronous code."""

from __future__ import annotations

import asyncio
import contextlib
import queue
import threading
import time
from typing import Any

from django.conf import settings
from prefect.settings import PREFECT_API_AUTH_STRING, temporary_settings

from workflows.prefect_api.client import (
    JSON,
    PrefectUnavailable,
    api_url,
)

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
