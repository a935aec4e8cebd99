"""Near-real-time mirror updates from Prefect's `prefect.flow-run.*` events (`manage.py listen_prefect_events`), and
of deployments from `prefect.deployment.*` events (a pause reaches the mirror within about a second).

Events arrive within milliseconds of a state change. They are gathered for a short moment (a burst becomes one
batch), the runs they name are read from Prefect by id and upserted, and each event's exact transition
(from → to, with the state's own id) is written to the state history. A dropped stream is reopened with
exponential backoff, and once it is open again one incremental sync (`workflows.sync`) reads what changed while it
was down: Prefect's backfill on reconnect only covers events it has already persisted, so without the catch-up a run
that changed just before the reconnect would wait for the next beat reconcile.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from django.core.cache import cache
from django.db import DatabaseError, close_old_connections, transaction
from django.utils import timezone

from workflows import prefect_api
from workflows.mirror import parse_time, state_change_row, write_flow_runs
from workflows.models import Flow, FlowRun, FlowRunStateChange, SyncStatus
from workflows.references import upsert_deployments, upsert_flows
from workflows.signals import runs_mirrored
from workflows.sync import sync_flow_runs

logger = logging.getLogger(__name__)

EVENTS_STREAM = "events"
BATCH_WINDOW_SECONDS = 0.05
MAX_BATCH = prefect_api.PAGE_SIZE_LIMIT
BACKOFF_START_SECONDS = 1.0
BACKOFF_MAX_SECONDS = 30.0
STALE_READ_PAUSES_SECONDS = (0.1, 0.2, 0.4, 0.8, 1.6)

JSON = dict
# The listener's liveness for the monitoring app (which reads it; workflows never imports monitoring): the time of
# its last loop turn, written at most every HEARTBEAT_SECONDS while the stream is open.
HEARTBEAT_CACHE_KEY = "workflows:listener:heartbeat"
HEARTBEAT_SECONDS = 10.0


@dataclass
class ListenerStats:
    events: int = 0
    batches: int = 0
    runs_written: int = 0
    reconnects: int = 0


def apply_events(events: list[JSON]) -> int:
    """Apply a batch of flow-run and deployment events; returns the rows written."""
    deployment_ids = {event["deployment_id"] for event in events if "deployment_id" in event}
    run_events = [event for event in events if "flow_run_id" in event]
    written = refresh_deployments(sorted(deployment_ids)) if deployment_ids else 0
    return written + (apply_flow_run_events(run_events) if run_events else 0)


def refresh_deployments(deployment_ids: list[str]) -> int:
    """Re-read the deployments an event named (paused? resumed? new?) and mirror them: a trigger relies on the
    mirror's `paused`. One gone from Prefect is left for the sync to mark."""
    payloads = prefect_api.read_deployments_by_id(list(deployment_ids))
    flow_ids = {UUID(p["flow_id"]) for p in payloads}
    new_flows = []
    if Flow.objects.filter(prefect_id__in=flow_ids).count() < len(flow_ids):
        new_flows = prefect_api.read_flows_by_id(list(flow_ids))
    with transaction.atomic():
        return upsert_flows(new_flows) + upsert_deployments(payloads)


def apply_flow_run_events(events: list[JSON]) -> int:
    """Mirror the runs these events name and record their transitions; returns the run rows written."""
    payloads = _read_runs_as_new_as(events)
    written = write_flow_runs(payloads, with_history=False)
    _record_transitions(events)
    _announce(payloads)
    return len(written.written)


def _announce(payloads: list[JSON]) -> None:
    for receiver, outcome in runs_mirrored.send_robust(sender=apply_flow_run_events, runs=payloads):
        if isinstance(outcome, Exception):
            logger.error("%s failed on mirrored runs: %s", getattr(receiver, "__qualname__", receiver), outcome)


def _read_runs_as_new_as(events: list[JSON]) -> list[JSON]:
    """The runs the events name, read from Prefect, each at least as new as its newest event.

    Prefect announces a state change a moment before a read by id is sure to show it (seen on a PostgreSQL-backed
    server: the read returned RUNNING after the COMPLETED event, and no later event came to correct it). A run that
    lags its newest event is re-read after a short pause; if it still lags, it is written as read and the next
    sync tick corrects it.
    """
    newest: dict[str, JSON] = {}
    for event in events:
        seen = newest.get(event["flow_run_id"])
        if event.get("type") and (seen is None or _event_time(event) >= _event_time(seen)):
            newest[event["flow_run_id"]] = event
    run_ids = list(dict.fromkeys(event["flow_run_id"] for event in events))
    payloads = {run["id"]: run for run in prefect_api.read_flow_runs_by_id(run_ids)}
    for pause in STALE_READ_PAUSES_SECONDS:
        behind = [run_id for run_id, event in newest.items() if run_id in payloads and _lags(payloads[run_id], event)]
        if not behind:
            break
        time.sleep(pause)
        payloads.update({run["id"]: run for run in prefect_api.read_flow_runs_by_id(behind)})
    else:
        logger.warning("%d runs still behind their latest event; the next sync will correct them", len(behind))
    return list(payloads.values())


def _event_time(event: JSON) -> datetime:
    return parse_time(event.get("timestamp")) or parse_time(event["occurred"])


def _lags(run: JSON, event: JSON) -> bool:
    """The run as read is in an older state than the one the event announced."""
    if run.get("state_id") == event["id"]:
        return False
    read_at = parse_time((run.get("state") or {}).get("timestamp"))
    return read_at is None or read_at < _event_time(event)


def _record_transitions(events: list[JSON]) -> None:
    """Events know the exact previous state, so their rows replace any the upsert inferred for the same state."""
    pks = dict(
        FlowRun.objects.filter(prefect_id__in={UUID(e["flow_run_id"]) for e in events}).values_list("prefect_id", "pk")
    )
    rows = {}
    for event in events:
        pk = pks.get(UUID(event["flow_run_id"]))
        if pk is not None and event.get("type"):
            rows[event["id"]] = state_change_row(pk, event, event.get("from_type", ""), event.get("from_name", ""))
    if rows:
        FlowRunStateChange.objects.bulk_create(
            list(rows.values()),
            update_conflicts=True,
            unique_fields=["prefect_state_id"],
            update_fields=["from_state_type", "from_state_name"],
        )


def _next_batch(stream: prefect_api.FlowRunEventStream, idle_timeout: float) -> list[JSON]:
    first = stream.get(timeout=idle_timeout)
    if first is None:
        return []
    batch = [first]
    deadline = time.monotonic() + BATCH_WINDOW_SECONDS
    while len(batch) < MAX_BATCH and (remaining := deadline - time.monotonic()) > 0:
        event = stream.get(timeout=remaining)
        if event is None:
            break
        batch.append(event)
    return batch


def _record_batch(stats: ListenerStats, events: list[JSON], written: int) -> None:
    stats.events += len(events)
    stats.batches += 1
    stats.runs_written += written
    now = timezone.now()
    SyncStatus.objects.update_or_create(
        stream=EVENTS_STREAM,
        defaults={"last_attempt_at": now, "last_success_at": now, "last_rows_written": written},
    )


def _record_error(error: Exception) -> None:
    now = timezone.now()
    SyncStatus.objects.update_or_create(
        stream=EVENTS_STREAM, defaults={"last_attempt_at": now, "last_error": str(error)[:5000], "last_error_at": now}
    )


def listen(
    should_stop: Callable[[], bool] = lambda: False,
    on_connected: Callable[[], None] | None = None,
    idle_timeout: float = 1.0,
) -> ListenerStats:
    """Consume events until `should_stop()` is true; survives Prefect restarts by reconnecting with backoff."""
    stats = ListenerStats()
    backoff = BACKOFF_START_SECONDS
    while not should_stop():
        try:
            with prefect_api.FlowRunEventStream() as stream, prefect_api.session():
                if not stream.wait_connected(timeout=30):
                    raise prefect_api.PrefectUnavailable(f"could not open the event stream at {prefect_api.api_url()}")
                logger.info("listening to flow-run events at %s", prefect_api.api_url())
                backoff = BACKOFF_START_SECONDS
                if on_connected:
                    on_connected()
                if stats.reconnects:
                    _catch_up()
                beat_at = 0.0
                while not should_stop():
                    beat_at = _heartbeat(beat_at)
                    events = _next_batch(stream, idle_timeout)
                    if events:
                        close_old_connections()
                        _record_batch(stats, events, apply_events(events))
        except prefect_api.PrefectError as exc:
            stats.reconnects += 1
            logger.warning("event stream interrupted (%s); reconnecting in %.0fs", exc, backoff)
            _record_error(exc)
            _sleep_unless_stopped(backoff, should_stop)
            backoff = min(backoff * 2, BACKOFF_MAX_SECONDS)
        except DatabaseError as exc:
            # The events of this batch are not lost for good: the beat reconcile re-reads those runs.
            stats.reconnects += 1
            logger.error("mirror write failed (%s); resubscribing in %.0fs", exc, backoff)
            close_old_connections()
            _sleep_unless_stopped(backoff, should_stop)
            backoff = min(backoff * 2, BACKOFF_MAX_SECONDS)
    return stats


def _heartbeat(last: float) -> float:
    """Record that the listener is alive (a cache write, at most every HEARTBEAT_SECONDS); returns when it last did."""
    now = time.monotonic()
    if now - last < HEARTBEAT_SECONDS:
        return last
    cache.set(HEARTBEAT_CACHE_KEY, timezone.now().timestamp(), timeout=None)
    return now


def _catch_up() -> None:
    """The stream is open again, so whatever changes from now on arrives as events; sync what changed before."""
    result = sync_flow_runs()
    if result.skipped:
        logger.info("catch-up after reconnect left to the sync already running")
    else:
        logger.info("caught up after reconnect: %d runs written", result.rows_written)


def _sleep_unless_stopped(seconds: float, should_stop: Callable[[], bool]) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and not should_stop():
        time.sleep(0.2)
