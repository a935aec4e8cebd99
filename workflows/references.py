"""Prefect JSON → mirror rows for the reference data: work pools, flows and deployments.

Small tables (tens to thousands of rows), so they are always read whole and upserted in bulk. A row whose object
is gone from Prefect is marked `deleted_in_prefect`, never deleted (runs still point at it). Names are unique in
the mirror as in Prefect; when Prefect reuses a name for a new object (deleted and recreated), the old row is
renamed `name [deleted <id>]` so the new one can take it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from django.db import models, transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from workflows import prefect_api
from workflows.models import Deployment, Flow, WorkPool

logger = logging.getLogger(__name__)

JSON = dict[str, Any]
COMMON_FIELDS = ["created_in_prefect", "updated_in_prefect", "synced_at", "deleted_in_prefect"]
WORK_POOL_FIELDS = ["name", "type", "description", "is_paused", "concurrency_limit", "status"]
FLOW_FIELDS = ["name", "tags"]
DEPLOYMENT_FIELDS = [
    "name", "flow", "description", "tags", "paused", "status", "schedules_summary", "parameter_openapi_schema",
    "default_parameters", "work_pool", "work_queue_name", "concurrency_limit",
]  # fmt: skip


@dataclass
class ReferencePks:
    """Mirror primary keys by Prefect id, for the references of one batch of flow runs."""

    flows: dict[UUID, int] = field(default_factory=dict)
    deployments: dict[UUID, int] = field(default_factory=dict)
    work_pools: dict[UUID, int] = field(default_factory=dict)

    @classmethod
    def of_deployment(cls, deployment: Deployment) -> ReferencePks:
        """What a run of this mirrored deployment names, known without a query (its flow and work pool loaded)."""
        pool = deployment.work_pool
        return cls(
            {deployment.flow.prefect_id: deployment.flow_id},
            {deployment.prefect_id: deployment.pk},
            {pool.prefect_id: pool.pk} if pool is not None else {},
        )


def _time(value: str | None) -> Any:
    return parse_datetime(value) if value else None


def _common(payload: JSON, now: Any) -> JSON:
    return {
        "prefect_id": UUID(payload["id"]),
        "created_in_prefect": _time(payload.get("created")),
        "updated_in_prefect": _time(payload.get("updated")),
        "synced_at": now,
        "deleted_in_prefect": False,
    }


# --- rows -----------------------------------------------------------------------------------------------------------


def work_pool_row(payload: JSON, now: Any) -> WorkPool:
    return WorkPool(
        **_common(payload, now),
        name=payload["name"][:255],
        type=(payload.get("type") or "")[:100],
        description=payload.get("description") or "",
        is_paused=bool(payload.get("is_paused")),
        concurrency_limit=payload.get("concurrency_limit"),
        status=(payload.get("status") or "")[:20],
    )


def flow_row(payload: JSON, now: Any) -> Flow:
    return Flow(**_common(payload, now), name=payload["name"][:255], tags=payload.get("tags") or [])


def deployment_row(payload: JSON, now: Any, flow_pks: dict[UUID, int], pool_pks_by_name: dict[str, int]) -> Deployment:
    return Deployment(
        **_common(payload, now),
        name=payload["name"][:255],
        flow_id=flow_pks[UUID(payload["flow_id"])],
        description=payload.get("description") or "",
        tags=payload.get("tags") or [],
        paused=bool(payload.get("paused")),
        status=(payload.get("status") or "")[:20],
        schedules_summary=summarise_schedules(payload.get("schedules") or []),
        parameter_openapi_schema=payload.get("parameter_openapi_schema") or {},
        default_parameters=payload.get("parameters") or {},
        work_pool_id=pool_pks_by_name.get(payload.get("work_pool_name") or ""),
        work_queue_name=(payload.get("work_queue_name") or "")[:255],
        concurrency_limit=_concurrency_limit(payload),
    )


def _concurrency_limit(payload: JSON) -> int | None:
    limit = payload.get("concurrency_limit")
    if limit is None and isinstance(payload.get("global_concurrency_limit"), dict):
        limit = payload["global_concurrency_limit"].get("limit")
    return limit


def summarise_schedules(schedules: list[JSON]) -> str:
    """`every 3600s; cron 0 * * * * (UTC); rrule …`, inactive ones marked — for the admin and GraphQL."""
    parts = []
    for entry in schedules:
        schedule = entry.get("schedule") or {}
        if "interval" in schedule:
            text = f"every {schedule['interval']:g}s"
        elif "cron" in schedule:
            text = f"cron {schedule['cron']} ({schedule.get('timezone') or 'UTC'})"
        elif "rrule" in schedule:
            text = f"rrule {schedule['rrule']}"
        else:
            text = str(schedule)
        parts.append(text if entry.get("active", True) else f"{text} (inactive)")
    return "; ".join(parts)


# --- upserts --------------------------------------------------------------------------------------------------------


def _retire_clashing_names(model: type[models.Model], rows: list[Any], name_fields: tuple[str, ...]) -> None:
    """Rename mirror rows that hold a name Prefect now gives to a different object."""
    incoming = {tuple(getattr(row, f) for f in name_fields): row.prefect_id for row in rows}
    if not incoming:
        return
    lookup = models.Q()
    for key in incoming:
        lookup |= models.Q(**dict(zip(name_fields, key, strict=True)))
    for stale in model.objects.filter(lookup).exclude(prefect_id__in=list(incoming.values())):
        stale.name = f"{stale.name} [deleted {stale.prefect_id}]"[:255]
        stale.deleted_in_prefect = True
        stale.save(update_fields=["name", "deleted_in_prefect"])


def _bulk_upsert(model: type[models.Model], rows: list[Any], fields: list[str]) -> None:
    if rows:
        model.objects.bulk_create(
            rows, update_conflicts=True, unique_fields=["prefect_id"], update_fields=COMMON_FIELDS + fields
        )


def _pks(model: type[models.Model], prefect_ids: Iterable[UUID]) -> dict[UUID, int]:
    return dict(model.objects.filter(prefect_id__in=list(prefect_ids)).values_list("prefect_id", "pk"))


def _known_or_read(model: type[models.Model], prefect_ids: Iterable[UUID], known: dict[UUID, int]) -> dict[UUID, int]:
    """The pks of these ids: the known ones as given, the others read (no query when all are known: Django sends
    none for an empty `__in`)."""
    wanted = set(prefect_ids)
    found = {prefect_id: pk for prefect_id, pk in known.items() if prefect_id in wanted}
    return {**found, **_pks(model, wanted - found.keys())}


def upsert_work_pools(payloads: list[JSON]) -> int:
    now = timezone.now()
    rows = [work_pool_row(p, now) for p in payloads]
    _retire_clashing_names(WorkPool, rows, ("name",))
    _bulk_upsert(WorkPool, rows, WORK_POOL_FIELDS)
    return len(rows)


def upsert_flows(payloads: list[JSON]) -> int:
    now = timezone.now()
    rows = [flow_row(p, now) for p in payloads]
    _retire_clashing_names(Flow, rows, ("name",))
    _bulk_upsert(Flow, rows, FLOW_FIELDS)
    return len(rows)


def upsert_deployments(payloads: list[JSON]) -> int:
    """Deployments whose flow is in the mirror (call `upsert_flows` first); the others are logged and skipped."""
    now = timezone.now()
    flow_pks = _pks(Flow, {UUID(p["flow_id"]) for p in payloads})
    pool_names = {p.get("work_pool_name") for p in payloads if p.get("work_pool_name")}
    pool_pks_by_name = dict(WorkPool.objects.filter(name__in=pool_names).values_list("name", "pk"))
    rows = []
    for payload in payloads:
        if UUID(payload["flow_id"]) not in flow_pks:
            logger.warning("deployment %s skipped: its flow %s is not mirrored", payload["id"], payload["flow_id"])
            continue
        rows.append(deployment_row(payload, now, flow_pks, pool_pks_by_name))
    _retire_clashing_names(Deployment, rows, ("flow_id", "name"))
    _bulk_upsert(Deployment, rows, DEPLOYMENT_FIELDS)
    return len(rows)


def _mark_vanished(model: type[models.Model], seen: set[UUID]) -> int:
    return model.objects.filter(deleted_in_prefect=False).exclude(prefect_id__in=seen).update(deleted_in_prefect=True)


def sync_reference_data() -> int:
    """Read every work pool, flow and deployment from Prefect and mirror them; returns the rows written.

    Objects gone from Prefect are marked `deleted_in_prefect`. Raises `PrefectUnavailable` before writing anything
    if Prefect cannot be read.
    """
    with prefect_api.session():
        pools = [p for page in prefect_api.iter_work_pools() for p in page]
        flows = [f for page in prefect_api.iter_flows() for f in page]
        deployments = [d for page in prefect_api.iter_deployments() for d in page]
    with transaction.atomic():
        written = upsert_work_pools(pools) + upsert_flows(flows) + upsert_deployments(deployments)
        _mark_vanished(WorkPool, {UUID(p["id"]) for p in pools})
        _mark_vanished(Flow, {UUID(f["id"]) for f in flows})
        _mark_vanished(Deployment, {UUID(d["id"]) for d in deployments})
    return written


# --- references of flow runs ----------------------------------------------------------------------------------------


def ensure_references(run_payloads: list[JSON], known: ReferencePks | None = None) -> ReferencePks:
    """Mirror pks of the flows, deployments and work pools these runs name, creating any the mirror lacks.

    Costs a query per kind not all `known` (three at most) when all are mirrored; a missing flow or deployment is
    read from Prefect. A missing work pool is created from the run's own `work_pool_id`/`work_pool_name` (the next
    reference sync fills the rest).
    """
    known = known or ReferencePks()
    flow_ids = {UUID(p["flow_id"]) for p in run_payloads}
    deployment_ids = {UUID(p["deployment_id"]) for p in run_payloads if p.get("deployment_id")}
    pools = {UUID(p["work_pool_id"]): p.get("work_pool_name") for p in run_payloads if p.get("work_pool_id")}
    refs = ReferencePks(
        _known_or_read(Flow, flow_ids, known.flows),
        _known_or_read(Deployment, deployment_ids, known.deployments),
        _known_or_read(WorkPool, pools, known.work_pools),
    )

    missing_pools = [{"id": str(i), "name": name} for i, name in pools.items() if i not in refs.work_pools and name]
    if missing_pools:
        with transaction.atomic():
            upsert_work_pools(missing_pools)
        refs.work_pools.update(_pks(WorkPool, pools))
    missing_deployments = deployment_ids - refs.deployments.keys()
    missing_flows = flow_ids - refs.flows.keys()
    if missing_deployments or missing_flows:
        _mirror_missing(missing_flows, missing_deployments)
        refs.flows.update(_pks(Flow, missing_flows))
        refs.deployments.update(_pks(Deployment, missing_deployments))
    unknown_flows = flow_ids - refs.flows.keys()
    if unknown_flows:
        raise prefect_api.PrefectNotFound(f"flows {sorted(map(str, unknown_flows))} are not in Prefect", 404)
    return refs


def _mirror_missing(flow_ids: set[UUID], deployment_ids: set[UUID]) -> None:
    with prefect_api.session():
        deployments = prefect_api.read_deployments_by_id(list(deployment_ids)) if deployment_ids else []
        flow_ids = flow_ids | {UUID(d["flow_id"]) for d in deployments}
        flows = prefect_api.read_flows_by_id(list(flow_ids - _pks(Flow, flow_ids).keys()))
        pool_names = {d["work_pool_name"] for d in deployments if d.get("work_pool_name")}
        pools = []
        if pool_names - set(WorkPool.objects.filter(name__in=pool_names).values_list("name", flat=True)):
            pools = [p for page in prefect_api.iter_work_pools() for p in page if p["name"] in pool_names]
    with transaction.atomic():
        upsert_work_pools(pools)
        upsert_flows(flows)
        upsert_deployments(deployments)
