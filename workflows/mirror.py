"""Prefect JSON → mirror rows: bulk, idempotent upserts of flow runs and their state history.

`upsert_flow_runs` is the one write path for flow runs (the sync, the event listener and `workflows.services` all
use it). Per batch it costs a fixed number of queries whatever the batch size: reads of the references and of the
existing rows (before and again inside the transaction), one bulk upsert (`INSERT … ON CONFLICT (prefect_id) DO
UPDATE`, split by the backend's parameter limit on SQLite), one bulk insert of new state changes.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from django.db import connection, transaction
from django.db.models import OuterRef, Q, Subquery
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from controlplane.db.binary_binding import binary_bulk_binding
from workflows import prefect_api
from workflows.models import FlowRun, FlowRunStateChange, StateType
from workflows.references import ReferencePks, ensure_references

logger = logging.getLogger(__name__)

JSON = dict[str, Any]
# A changed run's full state history is fetched (one request each) for at most this many runs per batch; beyond
# that only the state the run is in now is recorded, so a burst cannot turn one sync tick into thousands of calls.
HISTORY_FETCH_LIMIT = 50
# Serialises concurrent upserts (sync, listener, services) on PostgreSQL; SQLite's IMMEDIATE transactions already do.
UPSERT_ADVISORY_LOCK_KEY = 0x5F17_0001

# Flow-run fields of Prefect 3.8 that are read into columns, or deliberately not kept. Anything else a newer Prefect
# sends lands in `FlowRun.extra` instead of being lost.
MAPPED_FLOW_RUN_FIELDS = frozenset(
    {
        "id", "created", "updated", "name", "flow_id", "deployment_id", "work_pool_id", "work_pool_name",
        "work_queue_name", "state_id", "state_type", "state_name", "state", "expected_start_time", "start_time",
        "end_time", "total_run_time", "run_count", "parameters", "tags", "idempotency_key", "parent_task_run_id",
        "created_by",
    }
)  # fmt: skip
IGNORED_FLOW_RUN_FIELDS = frozenset(
    {
        "deployment_version", "work_queue_id", "flow_version", "context", "empirical_policy", "labels",
        "next_scheduled_start_time", "estimated_run_time", "estimated_start_time_delta", "auto_scheduled",
        "infrastructure_document_id", "infrastructure_pid", "job_variables",
    }
)  # fmt: skip
FLOW_RUN_UPDATE_FIELDS = [
    "created_in_prefect", "updated_in_prefect", "synced_at", "deleted_in_prefect", "name", "flow", "deployment",
    "work_pool", "work_queue_name", "state_type", "state_name", "state_timestamp", "state_message",
    "prefect_state_id", "expected_start_time", "start_time", "end_time", "total_run_time", "run_count", "parameters",
    "tags", "idempotency_key", "parent_task_run_id", "parent_prefect_id", "parent", "created_by", "extra",
]  # fmt: skip
KNOWN_STATE_TYPES = frozenset(StateType.values)
_warned_state_types: set[str] = set()


def parse_time(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(value)  # Prefect sends ISO 8601 with an offset; the fast path
    except ValueError:
        return parse_datetime(value)


def as_uuid(value: str | UUID | None) -> UUID | None:
    if value is None or isinstance(value, UUID):
        return value
    return UUID(value)


@dataclass(frozen=True)
class MirroredRun:
    """What the mirror already holds for a run, read once per batch to decide what to write."""

    pk: int
    prefect_state_id: UUID | None
    state_type: str
    state_name: str
    updated_in_prefect: datetime | None
    parent_id: int | None
    parent_prefect_id: UUID | None
    deleted_in_prefect: bool


@dataclass
class UpsertResult:
    written: list[FlowRun]  # rows inserted or updated, with primary keys
    unchanged_pks: list[int]  # runs the mirror already held at this `updated` (or newer)
    payload_ids: list[UUID]  # the runs of the batch, in payload order, without duplicates


def upsert_flow_runs(
    payloads: Iterable[JSON],
    *,
    with_history: bool = True,
    force: bool = False,
    new: bool = False,
    known: ReferencePks | None = None,
) -> list[FlowRun]:
    """Write Prefect flow-run JSON into the mirror; return the rows (with primary keys), in payload order.

    Idempotent: a payload whose `updated` matches the mirror is not rewritten (unless `force`), and one older than
    the mirror (a slow reader racing the event listener) never overwrites a newer state, not even with `force`.
    Missing flows, deployments and work pools are created from Prefect. Each new state is appended to
    `FlowRunStateChange`; with `with_history`, a run that was already mirrored and changed state gets its full
    Prefect history, so states passed through between two syncs are not lost. `new`: runs Prefect has just created
    (a trigger's), which have no history or parent to look up yet, so only the write itself is left to do. `known`:
    references the caller already holds (a trigger's deployment), not looked up again.
    """
    result = write_flow_runs(payloads, with_history=with_history, force=force, new=new, known=known)
    rows = {row.prefect_id: row for row in result.written}
    if result.unchanged_pks:
        rows.update({row.prefect_id: row for row in FlowRun.objects.filter(pk__in=result.unchanged_pks)})
    return [rows[run_id] for run_id in result.payload_ids]


def write_flow_runs(
    payloads: Iterable[JSON],
    *,
    with_history: bool = True,
    force: bool = False,
    new: bool = False,
    known: ReferencePks | None = None,
) -> UpsertResult:
    """`upsert_flow_runs` without reading back the rows it did not need to write (the sync's bulk path)."""
    unique = _deduplicate(payloads)
    if not unique:
        return UpsertResult([], [], [])
    refs = ensure_references(unique, known)
    new = new and not any(p.get("parent_task_run_id") for p in unique)
    # Prefect is asked for histories and parents before the transaction, so no DB write lock is held during HTTP.
    # (A forced write without history needs this first read only for subflow runs: the full sync's bulk path.)
    needs_pre_read = not new and (with_history or not force or any(p.get("parent_task_run_id") for p in unique))
    seen_before = _read_mirrored_runs(unique) if needs_pre_read else {}
    candidates = [p for p in unique if _needs_write(p, seen_before.get(UUID(p["id"])), force)]
    histories = _fetch_histories(candidates, seen_before) if with_history else {}
    parents = _resolve_parents(candidates, seen_before)
    # No savepoint inside a caller's transaction: nothing recovers from a failed write halfway, and an operation's
    # request saves two round trips.
    with transaction.atomic(savepoint=False):
        _serialise_upserts()
        existing = _read_mirrored_runs(candidates) if candidates else {}
        to_write = [p for p in candidates if _needs_write(p, existing.get(UUID(p["id"])), force)]
        now = timezone.now()
        rows = [_flow_run_row(p, existing.get(UUID(p["id"])), refs, parents, now) for p in to_write]
        if rows:
            with binary_bulk_binding():
                FlowRun.objects.bulk_create(
                    rows,
                    update_conflicts=True,
                    unique_fields=["prefect_id"],
                    update_fields=FLOW_RUN_UPDATE_FIELDS,
                )
            _fill_missing_pks(rows)
            if not new:  # a run Prefect has just created is no subflow run, and no run names it as parent yet
                _link_parents(rows)
            _append_state_changes(rows, to_write, existing, histories)
    written_ids = {row.prefect_id for row in rows}
    unchanged = [m.pk for run_id, m in {**seen_before, **existing}.items() if run_id not in written_ids]
    return UpsertResult(rows, unchanged, [UUID(p["id"]) for p in unique])


def _deduplicate(payloads: Iterable[JSON]) -> list[JSON]:
    """One payload per run (the most recently updated); PostgreSQL refuses to upsert one row twice in a statement."""
    latest: dict[str, JSON] = {}
    for payload in payloads:
        seen = latest.get(payload["id"])
        if seen is None or (payload.get("updated") or "") >= (seen.get("updated") or ""):
            latest[payload["id"]] = payload
    return list(latest.values())


def _serialise_upserts() -> None:
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [UPSERT_ADVISORY_LOCK_KEY])


def _read_mirrored_runs(payloads: list[JSON]) -> dict[UUID, MirroredRun]:
    rows = FlowRun.objects.filter(prefect_id__in=[p["id"] for p in payloads]).values_list(
        "prefect_id", "pk", "prefect_state_id", "state_type", "state_name", "updated_in_prefect", "parent_id",
        "parent_prefect_id",        "deleted_in_prefect",
    )  # fmt: skip
    return {row[0]: MirroredRun(*row[1:]) for row in rows}


def _needs_write(payload: JSON, mirrored: MirroredRun | None, force: bool = False) -> bool:
    """New, newer, or (with `force`) the same as the mirror; never older (a slow read racing the listener)."""
    if mirrored is None or mirrored.deleted_in_prefect or mirrored.updated_in_prefect is None:
        return True
    if payload.get("parent_task_run_id") and mirrored.parent_prefect_id is None:
        return True  # its parent could not be resolved last time; try again
    updated = parse_time(payload.get("updated"))
    if updated is None:
        return True
    return updated > mirrored.updated_in_prefect or (force and updated == mirrored.updated_in_prefect)


def _fetch_histories(payloads: list[JSON], existing: dict[UUID, MirroredRun]) -> dict[UUID, list[JSON]]:
    """Full state histories of already-mirrored runs whose state changed (capped at HISTORY_FETCH_LIMIT)."""
    changed = [
        UUID(p["id"])
        for p in payloads
        if (mirrored := existing.get(UUID(p["id"]))) and mirrored.prefect_state_id != as_uuid(p.get("state_id"))
    ]
    if len(changed) > HISTORY_FETCH_LIMIT:
        logger.info("state history fetched for %d of %d changed runs", HISTORY_FETCH_LIMIT, len(changed))
    found = prefect_api.read_many_flow_run_states(changed[:HISTORY_FETCH_LIMIT])
    return {UUID(run_id): states for run_id, states in found.items()}


def _resolve_parents(payloads: list[JSON], existing: dict[UUID, MirroredRun]) -> dict[UUID, UUID]:
    """Prefect id of the parent flow run of each subflow run whose parent the mirror does not know yet."""
    wanted = {
        UUID(p["id"]): p["parent_task_run_id"]
        for p in payloads
        if p.get("parent_task_run_id")
        and not ((mirrored := existing.get(UUID(p["id"]))) and mirrored.parent_prefect_id is not None)
    }
    if not wanted:
        return {}
    try:
        task_runs = prefect_api.read_task_runs_by_id(list(set(wanted.values())))
    except prefect_api.PrefectError as exc:
        logger.warning("parent runs of %d subflow runs left unresolved: %s", len(wanted), exc)
        return {}
    parent_run_of_task = {task["id"]: task.get("flow_run_id") for task in task_runs}
    return {
        run_id: UUID(parent_run_of_task[task_run_id])
        for run_id, task_run_id in wanted.items()
        if parent_run_of_task.get(task_run_id)
    }


def _link_parents(rows: list[FlowRun]) -> None:
    """Point subflow runs at their parent rows: those of this batch, and earlier ones waiting for a parent in it."""
    parent_pk = Subquery(FlowRun.objects.filter(prefect_id=OuterRef("parent_prefect_id")).values("pk")[:1])
    children = [row.pk for row in rows if row.parent_prefect_id and row.parent_id is None]
    if children:
        FlowRun.objects.filter(pk__in=children).update(parent_id=parent_pk)
    waiting = FlowRun.objects.filter(parent__isnull=True, parent_prefect_id__isnull=False)
    if children or waiting.exists():  # usually no run waits for a parent: skip the IN (…200 ids…) update then
        waiting.filter(parent_prefect_id__in=[row.prefect_id for row in rows]).update(parent_id=parent_pk)


def _flow_run_row(
    payload: JSON, mirrored: MirroredRun | None, refs: ReferencePks, parents: dict[UUID, UUID], now: datetime
) -> FlowRun:
    run_id = UUID(payload["id"])
    state = payload.get("state") or {}
    state_type = _state_type(payload.get("state_type") or state.get("type") or "")
    return FlowRun(
        pk=mirrored.pk if mirrored else None,
        prefect_id=run_id,
        created_in_prefect=parse_time(payload.get("created")),
        updated_in_prefect=parse_time(payload.get("updated")),
        synced_at=now,
        deleted_in_prefect=False,
        name=(payload.get("name") or "")[:255],
        flow_id=refs.flows[UUID(payload["flow_id"])],
        deployment_id=refs.deployments.get(as_uuid(payload.get("deployment_id"))),
        work_pool_id=refs.work_pools.get(as_uuid(payload.get("work_pool_id"))),
        work_queue_name=(payload.get("work_queue_name") or "")[:255],
        state_type=state_type,
        state_name=(payload.get("state_name") or state.get("name") or "")[:100],
        state_timestamp=parse_time(state.get("timestamp")),
        state_message=state.get("message") or "",
        prefect_state_id=as_uuid(payload.get("state_id") or state.get("id")),
        expected_start_time=parse_time(payload.get("expected_start_time")),
        start_time=parse_time(payload.get("start_time")),
        end_time=parse_time(payload.get("end_time")),
        total_run_time=payload.get("total_run_time") or 0.0,
        run_count=payload.get("run_count") or 0,
        parameters=payload.get("parameters") or {},
        tags=payload.get("tags") or [],
        idempotency_key=(payload.get("idempotency_key") or "")[:255],
        parent_task_run_id=as_uuid(payload.get("parent_task_run_id")),
        parent_prefect_id=parents.get(run_id) or (mirrored.parent_prefect_id if mirrored else None),
        parent_id=mirrored.parent_id if mirrored else None,
        created_by=_created_by(payload.get("created_by")),
        extra={**_unmapped_fields(payload), **_result_reference(state)},
    )


def _result_reference(state: JSON) -> JSON:
    """Where Prefect keeps the run's result, when it persisted one (shown on the run page)."""
    return {"result": state["data"]} if state.get("data") is not None else {}


def _state_type(value: str) -> str:
    """Prefect's state type; an unknown one (a newer Prefect) is kept as sent and logged once."""
    if value and value not in KNOWN_STATE_TYPES and value not in _warned_state_types:
        _warned_state_types.add(value)
        logger.warning("unknown Prefect state type %r stored as is", value)
    return value[:20]


def _created_by(value: JSON | str | None) -> str:
    if not value:
        return ""
    if isinstance(value, str):
        return value[:255]
    label = value.get("display_value") or value.get("type") or ""
    return f"{value.get('type', '').lower()}:{label}"[:255] if value.get("type") else str(label)[:255]


def _unmapped_fields(payload: JSON) -> JSON:
    return {k: v for k, v in payload.items() if k not in MAPPED_FLOW_RUN_FIELDS and k not in IGNORED_FLOW_RUN_FIELDS}


def _fill_missing_pks(rows: list[FlowRun]) -> None:
    """Backends that cannot return ids from an upsert leave `pk` unset on new rows; read them back."""
    missing = [row for row in rows if row.pk is None]
    if missing:
        pks = dict(
            FlowRun.objects.filter(prefect_id__in=[r.prefect_id for r in missing]).values_list("prefect_id", "pk")
        )
        for row in missing:
            row.pk = pks[row.prefect_id]


def _append_state_changes(
    rows: list[FlowRun], payloads: list[JSON], existing: dict[UUID, MirroredRun], histories: dict[UUID, list[JSON]]
) -> None:
    changes: list[FlowRunStateChange] = []
    for row in rows:
        mirrored = existing.get(row.prefect_id)
        if row.prefect_state_id is None or (mirrored and mirrored.prefect_state_id == row.prefect_state_id):
            continue
        history = histories.get(row.prefect_id)
        if history:
            changes.extend(_changes_from_history(row, history))
        else:
            changes.append(
                FlowRunStateChange(
                    flow_run_id=row.pk,
                    prefect_state_id=row.prefect_state_id,
                    from_state_type=mirrored.state_type if mirrored else "",
                    from_state_name=mirrored.state_name if mirrored else "",
                    to_state_type=row.state_type,
                    to_state_name=row.state_name,
                    at=row.state_timestamp or row.updated_in_prefect or timezone.now(),
                    message=row.state_message,
                )
            )
    if changes:
        with binary_bulk_binding():
            FlowRunStateChange.objects.bulk_create(changes, ignore_conflicts=True)


def _changes_from_history(row: FlowRun, history: list[JSON]) -> list[FlowRunStateChange]:
    ordered = sorted(history, key=lambda state: state.get("timestamp") or "")
    changes = []
    previous: JSON = {}
    for state in ordered:
        changes.append(state_change_row(row.pk, state, previous.get("type", ""), previous.get("name", "")))
        previous = state
    return changes


def state_change_row(flow_run_pk: int, state: JSON, from_type: str, from_name: str) -> FlowRunStateChange:
    """A history row for one Prefect state (`{"id", "type", "name", "timestamp", "message"}`)."""
    return FlowRunStateChange(
        flow_run_id=flow_run_pk,
        prefect_state_id=as_uuid(state.get("id")),
        from_state_type=(from_type or "")[:20],
        from_state_name=(from_name or "")[:100],
        to_state_type=_state_type(state.get("type") or ""),
        to_state_name=(state.get("name") or "")[:100],
        at=parse_time(state.get("timestamp")) or timezone.now(),
        message=state.get("message") or "",
    )


def apply_run_states(changes: list[tuple[FlowRun, JSON]]) -> list[FlowRun]:
    """Record states Prefect's orchestration just answered with (a `set_state` result's `state`) on mirrored runs,
    without re-reading the runs: the state fields, and one history row per new state.

    A state older than the one mirrored (the listener or the sync got there first) is not written over it. Only the
    state fields change here; the next sync or event brings the rest (end time, `updated`). Returns the runs,
    updated in memory where written.
    """
    history: list[FlowRunStateChange] = []
    for run, state in changes:
        at = parse_time(state.get("timestamp")) or timezone.now()
        fields = {
            "state_type": _state_type(state.get("type") or ""),
            "state_name": (state.get("name") or "")[:100],
            "state_timestamp": at,
            "state_message": state.get("message") or "",
            "prefect_state_id": as_uuid(state.get("id")),
        }
        newer_or_same = Q(state_timestamp__isnull=True) | Q(state_timestamp__lte=at)
        if FlowRun.objects.filter(newer_or_same, pk=run.pk).update(synced_at=timezone.now(), **fields):
            history.append(state_change_row(run.pk, state, run.state_type, run.state_name))
            for name, value in fields.items():
                setattr(run, name, value)
    if history:
        FlowRunStateChange.objects.bulk_create(history, ignore_conflicts=True)
    return [run for run, _ in changes]
