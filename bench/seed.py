"""Create many flow runs in a Prefect server through its REST API, fast: `seed_flow_runs(api_url, 10_000)`.

Runs belong to one flow and deployment (created here, in a work pool created here) and end in a mix of terminal
states. By default each run is one POST creating it directly in its final state (≈ 20-50 runs/s against a Prefect
server on SQLite); with `spread_days > 0` it is created Scheduled at a random time in the past `spread_days` and then
forced into its final state (two POSTs, about half as fast), so time filters and sorts have something to work on.
Prefect on SQLite serialises writes (concurrent ones fail with 503 "database is locked", retried here), so the
default concurrency is 1; raise it against a Prefect on PostgreSQL.
Also a script: `python -m bench.seed --api-url http://127.0.0.1:4200/api --count 10000`.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

DEFAULT_STATE_MIX: dict[str, float] = {"COMPLETED": 0.8, "FAILED": 0.12, "CANCELLED": 0.05, "CRASHED": 0.03}
ATTEMPTS = 30
STATE_NAMES = {"COMPLETED": "Completed", "FAILED": "Failed", "CANCELLED": "Cancelled", "CRASHED": "Crashed"}


@dataclass
class SeedResult:
    flow_id: str
    deployment_id: str
    work_pool_name: str
    run_ids: list[str] = field(default_factory=list)
    seconds: float = 0.0


def seed_flow_runs(
    api_url: str,
    count: int,
    *,
    concurrency: int = 1,
    flow_name: str = "bench-flow",
    deployment_name: str = "bench-deployment",
    work_pool_name: str = "bench-pool",
    spread_days: float = 0,
    state_mix: dict[str, float] | None = None,
    tags: list[str] | None = None,
    seed: int = 42,
    auth_string: str = "",
) -> SeedResult:
    """Create `count` finished flow runs in the Prefect server at `api_url` (locked: `auth_string`); returns ids."""
    return asyncio.run(
        _seed(
            api_url.rstrip("/"),
            count,
            concurrency,
            flow_name,
            deployment_name,
            work_pool_name,
            spread_days,
            state_mix or DEFAULT_STATE_MIX,
            tags if tags is not None else ["bench"],
            random.Random(seed),
            auth_string,
        )
    )


async def _seed(
    api_url: str,
    count: int,
    concurrency: int,
    flow_name: str,
    deployment_name: str,
    work_pool_name: str,
    spread_days: float,
    state_mix: dict[str, float],
    tags: list[str],
    rng: random.Random,
    auth_string: str,
) -> SeedResult:
    started = time.monotonic()
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    auth = tuple(auth_string.split(":", 1)) if auth_string else None
    async with httpx.AsyncClient(base_url=api_url, timeout=60, limits=limits, auth=auth) as client:
        flow_id, deployment_id = await _flow_and_deployment(client, flow_name, deployment_name, work_pool_name)
        now = datetime.now(UTC)
        states = rng.choices(list(state_mix), weights=list(state_mix.values()), k=count)
        offsets = [rng.uniform(0, spread_days * 86400) for _ in range(count)]
        gate = asyncio.Semaphore(concurrency)

        async def one(index: int) -> str:
            async with gate:
                scheduled = now - timedelta(seconds=offsets[index]) if spread_days > 0 else None
                return await _create_finished_run(
                    client, flow_id, deployment_id, f"{deployment_name}-{index}", scheduled, states[index], tags
                )

        run_ids = await asyncio.gather(*(one(i) for i in range(count)))
    return SeedResult(flow_id, deployment_id, work_pool_name, list(run_ids), time.monotonic() - started)


async def _post(client: httpx.AsyncClient, path: str, body: dict[str, Any], ok: tuple[int, ...] = ()) -> Any:
    """POST with retries: a Prefect server on SQLite answers 503 ("database is locked") under concurrent writes."""
    for attempt in range(ATTEMPTS):
        last = attempt == ATTEMPTS - 1
        try:
            response = await client.post(path, json=body)
        except httpx.TransportError:
            if last:
                raise
            await asyncio.sleep(random.uniform(0.05, 0.2) * (attempt + 1))
            continue
        if response.status_code in ok:
            return None
        if response.status_code >= 500 and not last:
            await asyncio.sleep(random.uniform(0.05, 0.2) * (attempt + 1))
            continue
        response.raise_for_status()
        return response.json()
    raise RuntimeError(f"POST {path} kept failing")


async def _flow_and_deployment(
    client: httpx.AsyncClient, flow_name: str, deployment_name: str, work_pool_name: str
) -> tuple[str, str]:
    await _post(client, "/work_pools/", {"name": work_pool_name, "type": "process"}, ok=(409,))
    flow = await _post(client, "/flows/", {"name": flow_name})
    deployment = await _post(
        client,
        "/deployments/",
        {
            "name": deployment_name,
            "flow_id": flow["id"],
            "work_pool_name": work_pool_name,
            "parameter_openapi_schema": {"type": "object", "properties": {"rows": {"type": "integer"}}},
            "parameters": {"rows": 100},
            "tags": ["bench"],
            "enforce_parameter_schema": False,
        },
    )
    return flow["id"], deployment["id"]


async def _create_finished_run(
    client: httpx.AsyncClient,
    flow_id: str,
    deployment_id: str,
    name: str,
    scheduled: datetime | None,
    final_state: str,
    tags: list[str],
) -> str:
    """One POST creating the run in its final state; with `scheduled`, a Scheduled run at that past time that a
    second POST forces into its final state (so expected start times spread out)."""
    final = {"type": final_state, "name": STATE_NAMES.get(final_state, final_state.title())}
    first_state = final
    if scheduled is not None:
        first_state = {
            "type": "SCHEDULED",
            "name": "Scheduled",
            "state_details": {"scheduled_time": scheduled.isoformat()},
        }
    body = {
        "flow_id": flow_id,
        "deployment_id": deployment_id,
        "name": name,
        "parameters": {"rows": 100},
        "tags": tags,
        "state": first_state,
    }
    run = await _post(client, "/flow_runs/", body)
    if scheduled is not None:
        await _post(client, f"/flow_runs/{run['id']}/set_state", {"state": final, "force": True})
    return run["id"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--api-url", required=True)
    parser.add_argument("--count", type=int, default=10_000)
    parser.add_argument("--concurrency", type=int, default=1)
    parser.add_argument("--spread-days", type=float, default=0)
    args = parser.parse_args()
    result = seed_flow_runs(args.api_url, args.count, concurrency=args.concurrency, spread_days=args.spread_days)
    rate = args.count / result.seconds if result.seconds else 0
    print(f"seeded {args.count} flow runs in {result.seconds:.1f}s ({rate:.0f}/s); deployment {result.deployment_id}")


if __name__ == "__main__":
    main()
