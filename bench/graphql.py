"""Latency of our GraphQL `flowRuns(first: 100)` with nested fields (read from the PostgreSQL mirror) against the same
page read directly from Prefect's `POST /flow_runs/filter`, measured side by side, interleaved, over HTTP on loopback.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/cp_bench_graphql .venv/bin/python -m bench.graphql --runs 100000

What it does: starts a Prefect server on its own PostgreSQL database (created if missing); creates `--api-runs`
finished runs through Prefect's API (`bench.seed`), then clones them inside Prefect's database (new ids, start times
shifted back by up to 30 days, each with its current state row) up to `--runs` — creating 100k runs through the API
takes hours on this machine (~10 runs/s), and a filter query reads the same tables either way. Data already there
is reused. Then it mirrors the runs with the real sync (`sync_prefect(full=True)`, through Prefect's API), starts
gunicorn on the mirror, and alternates one request to each side for `--iterations` rounds after a warm-up. Both
sides return the same 100 runs (checked), newest
expected start first. Ours goes through everything a client meets: Bearer-token auth, permission check, GraphQL
validation and the optimizer; Prefect's answer is the raw run JSON (it has no flow/deployment/work-pool names).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import httpx

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_PREFECT_DB = "postgresql+asyncpg://postgres@127.0.0.1:5432/cp_bench_graphql_prefect"
PAGE = 100
RUNS_QUERY = """query Runs($first: Int!) { flowRuns(first: $first) { %s edges { node {
  prefectId name stateType stateName expectedStartTime startTime endTime totalRunTime tags
  flow { name } deployment { name workPool { name } } workPool { name type }
} } } }"""
PREFECT_BODY = {"sort": "EXPECTED_START_TIME_DESC", "limit": PAGE, "offset": 0}


def main() -> None:
    args = _arguments()
    _setup_django()
    from django.conf import settings
    from django.core.management import call_command

    from controlplane.devstack.processes import (
        ManagedProcess,
        free_port,
        prefect_server_command,
        prefect_server_env,
        wait_for_prefect,
    )

    home = Path(tempfile.mkdtemp(prefix="cp-bench-graphql-"))
    _ensure_postgres_database(args.prefect_db.replace("+asyncpg", ""))
    call_command("migrate", verbosity=0)

    prefect_port = free_port()
    prefect_env = {**prefect_server_env(home / "prefect", prefect_port)}
    prefect_env["PREFECT_SERVER_DATABASE_CONNECTION_URL"] = args.prefect_db
    prefect = ManagedProcess(
        "prefect-bench", prefect_server_command("127.0.0.1", prefect_port), prefect_env, log_file=home / "prefect.log"
    ).start()
    web: Any = None
    try:
        api_url = f"http://127.0.0.1:{prefect_port}/api"
        wait_for_prefect(api_url, 300, prefect.is_alive)
        settings.PREFECT_API_URL = api_url
        _seed_prefect(api_url, args.api_runs, args.concurrency)
        _clone_runs_in_prefect(args.prefect_db.replace("+asyncpg", ""), args.runs)
        _mirror(args.runs)
        token = role_token("viewer")
        web_port = free_port()
        web = ManagedProcess(
            "gunicorn-bench",
            _gunicorn_command(web_port, args.workers),
            {"PREFECT_API_URL": api_url, "VAR_DIR": str(home), "ALLOWED_HOSTS": "127.0.0.1", "DEBUG": "false"},
            log_file=home / "gunicorn.log",
            cwd=REPO_ROOT,
        ).start()
        _wait_for(f"http://127.0.0.1:{web_port}/admin/login/", web.is_alive)
        report = _measure(f"http://127.0.0.1:{web_port}/graphql/", api_url, token, args.iterations, args.warmup)
        print(report)
    finally:
        if web is not None:
            web.stop()
        prefect.stop()


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=100_000, help="flow runs in Prefect and in the mirror")
    parser.add_argument("--api-runs", type=int, default=2_000, help="of those, created through Prefect's API")
    parser.add_argument("--iterations", type=int, default=300, help="measured requests per side")
    parser.add_argument("--warmup", type=int, default=30, help="unmeasured requests per side first")
    parser.add_argument("--concurrency", type=int, default=4, help="parallel requests while seeding Prefect")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers")
    parser.add_argument("--prefect-db", default=DEFAULT_PREFECT_DB, help="Prefect's own PostgreSQL database")
    return parser.parse_args()


def _setup_django() -> None:
    sys.path.insert(0, str(REPO_ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "controlplane.settings")
    database_url = os.environ.get("DATABASE_URL", "")
    if not database_url.startswith(("postgres://", "postgresql://")):
        sys.exit("Set DATABASE_URL to a PostgreSQL database for the mirror (the benchmark is about PostgreSQL).")
    _ensure_postgres_database(database_url)
    import django

    django.setup()


def _ensure_postgres_database(url: str) -> None:
    import psycopg

    parsed = urlparse(url)
    name = parsed.path.lstrip("/")
    admin_url = parsed._replace(path="/postgres").geturl()
    with psycopg.connect(admin_url, autocommit=True) as connection:
        exists = connection.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if not exists:
            connection.execute(f'CREATE DATABASE "{name}"')


def _seed_prefect(api_url: str, runs: int, concurrency: int) -> None:
    from bench.seed import seed_flow_runs

    existing = httpx.post(f"{api_url}/flow_runs/count", json={}, timeout=60).json()
    if existing >= runs:
        print(f"Prefect already holds {existing} flow runs; not seeding.", flush=True)
        return
    missing = runs - existing
    print(f"Seeding {missing} flow runs into Prefect…", flush=True)
    result = seed_flow_runs(api_url, missing, concurrency=concurrency, spread_days=30, seed=existing)
    print(f"  seeded in {result.seconds:.0f}s ({missing / result.seconds:.0f} runs/s)", flush=True)


def _clone_runs_in_prefect(prefect_db_url: str, target: int) -> None:
    """Copy API-created runs (and their current state rows) inside Prefect's database until it holds `target`."""
    import psycopg

    with psycopg.connect(prefect_db_url, autocommit=True) as connection:
        total = connection.execute("SELECT count(*) FROM flow_run").fetchone()[0]
        originals = connection.execute("SELECT count(*) FROM flow_run WHERE name NOT LIKE '%~%'").fetchone()[0]
        copy_round = 0
        while total < target:
            copy_round += 1
            batch = min(originals, target - total)
            connection.execute(_clone_statement(connection, batch, copy_round))
            total += batch
            print(f"  cloned {batch} runs inside Prefect's database ({total}/{target})", flush=True)


def _clone_statement(connection: Any, batch: int, copy_round: int) -> str:
    run_overrides = {
        "id": "c.new_id",
        "name": f"fr.name || '~{copy_round}'",
        "state_id": "c.new_state_id",
        "idempotency_key": "NULL",
        "created": "now()",
        "updated": "now()",
        **{column: f"fr.{column} + c.shift" for column in _SHIFTED_RUN_TIMES},
    }
    state_overrides = {
        "id": "c.new_state_id",
        "flow_run_id": "c.new_id",
        "timestamp": "s.timestamp + c.shift",
        "created": "now()",
        "updated": "now()",
    }
    run_columns, run_values = _copy_columns(connection, "flow_run", "fr", run_overrides)
    state_columns, state_values = _copy_columns(connection, "flow_run_state", "s", state_overrides)
    # One statement: the two inserts reference each other, and foreign keys are checked at its end.
    return f"""
        WITH c AS (
            SELECT fr.id AS old_id, gen_random_uuid() AS new_id, gen_random_uuid() AS new_state_id,
                   -(random() * interval '30 days') AS shift
            FROM flow_run fr WHERE fr.name NOT LIKE '%~%' ORDER BY fr.id LIMIT {batch}
        ),
        runs AS (
            INSERT INTO flow_run ({run_columns})
            SELECT {run_values} FROM c JOIN flow_run fr ON fr.id = c.old_id
        )
        INSERT INTO flow_run_state ({state_columns})
        SELECT {state_values} FROM c JOIN flow_run fr ON fr.id = c.old_id JOIN flow_run_state s ON s.id = fr.state_id
    """  # noqa: S608 -- column names come from information_schema, the batch size is an int


_SHIFTED_RUN_TIMES = ("expected_start_time", "next_scheduled_start_time", "start_time", "end_time", "state_timestamp")


def _copy_columns(connection: Any, table: str, alias: str, overrides: dict[str, str]) -> tuple[str, str]:
    rows = connection.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_name = %s ORDER BY ordinal_position", [table]
    ).fetchall()
    columns = [row[0] for row in rows]
    values = [overrides.get(column, f"{alias}.{column}") for column in columns]
    return ", ".join(f'"{column}"' for column in columns), ", ".join(values)


def _mirror(runs: int) -> None:
    from workflows.models import FlowRun
    from workflows.sync import sync_prefect

    if FlowRun.objects.count() >= runs:
        print(f"The mirror already holds {FlowRun.objects.count()} flow runs; not syncing.", flush=True)
        return
    clock = time.monotonic()
    result = sync_prefect(full=True)
    print(f"Mirrored: {result} in {time.monotonic() - clock:.0f}s", flush=True)


def role_token(role: str) -> str:
    """A new API token of a user `bench-<role>` in that role."""
    from django.contrib.auth.models import Group, User

    from controlplane.access.services import create_api_token
    from controlplane.audit.actor import Actor

    user, _ = User.objects.get_or_create(username=f"bench-{role}")
    user.groups.add(Group.objects.get(name=role))
    return create_api_token(Actor.system(), user, f"bench-{time.time_ns()}")[1]


def _gunicorn_command(port: int, workers: int) -> list[str]:
    gunicorn = str(Path(sys.executable).with_name("gunicorn"))
    return [gunicorn, "controlplane.wsgi", "--bind", f"127.0.0.1:{port}", "--workers", str(workers)]


def _wait_for(url: str, is_alive: Callable[[], bool], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not is_alive():
            sys.exit(f"the server for {url} exited")
        try:
            httpx.get(url, timeout=2)
            return
        except httpx.TransportError:
            time.sleep(0.3)
    sys.exit(f"{url} did not answer within {timeout}s")


def _measure(graphql_url: str, api_url: str, token: str, iterations: int, warmup: int) -> str:
    ours = httpx.Client(headers={"Authorization": f"Bearer {token}"}, timeout=60)
    theirs = httpx.Client(timeout=60)
    variants = {
        "ours: flowRuns(first: 100) + flow, deployment, work pool": RUNS_QUERY % "",
        "ours: the same + totalCount": RUNS_QUERY % "totalCount",
    }

    def prefect_page() -> list[str]:
        response = theirs.post(f"{api_url}/flow_runs/filter", json=PREFECT_BODY)
        response.raise_for_status()
        return [run["id"] for run in response.json()]

    def graphql_page(query: str) -> Callable[[], list[str]]:
        def read() -> list[str]:
            response = ours.post(graphql_url, json={"query": query, "variables": {"first": PAGE}})
            payload = response.json()
            if response.status_code != 200 or "errors" in payload:
                raise RuntimeError(f"GraphQL failed: {response.status_code} {payload}")
            return [edge["node"]["prefectId"] for edge in payload["data"]["flowRuns"]["edges"]]

        return read

    sides: dict[str, Callable[[], list[str]]] = {"Prefect: POST /flow_runs/filter (limit 100)": prefect_page}
    sides.update({name: graphql_page(query) for name, query in variants.items()})
    reference = prefect_page()
    for name, read in sides.items():
        if read() != reference:
            raise RuntimeError(f"{name} returned a different page than Prefect")
    timings: dict[str, list[float]] = {name: [] for name in sides}
    for round_number in range(warmup + iterations):
        for name, read in sides.items():
            started = time.perf_counter()
            read()
            elapsed = (time.perf_counter() - started) * 1000
            if round_number >= warmup:
                timings[name].append(elapsed)
    return _table(timings, iterations)


def _table(timings: dict[str, list[float]], iterations: int) -> str:
    prefect_name = next(iter(timings))
    prefect_p50, prefect_p95 = _percentiles(timings[prefect_name])
    lines = [
        f"{iterations} interleaved requests per side after warm-up; same 100 runs on every side.",
        "",
        "| request | p50 ms | p95 ms | p50 / Prefect's | p95 / Prefect's |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, samples in timings.items():
        p50, p95 = _percentiles(samples)
        lines.append(f"| {name} | {p50:.1f} | {p95:.1f} | {p50 / prefect_p50:.2f} | {p95 / prefect_p95:.2f} |")
    return "\n".join(lines)


def _percentiles(samples: list[float]) -> tuple[float, float]:
    cuts = statistics.quantiles(samples, n=100, method="inclusive")
    return statistics.median(samples), cuts[94]


if __name__ == "__main__":
    main()
