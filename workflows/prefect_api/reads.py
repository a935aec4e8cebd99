"""Reads from Prefect: health, paged filters, objects by id, many runs' state histories at once."""

from __future__ import annotations

import contextvars
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar
from uuid import UUID

from django.conf import settings

from workflows.prefect_api.client import (
    JSON,
    PAGE_SIZE_LIMIT,
    PrefectNotFound,
    _client,
    _get,
    _post,
    session,
)

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
