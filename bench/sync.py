"""Benchmark of the mirror sync against a real Prefect server (not a timed test: it prints measured figures).

    .venv/bin/python -m bench.sync --runs 10000 [--database-url postgres://…/bench_sync] [--api-url http://…/api]

Starts its own Prefect server (SQLite, free port) unless --api-url is given, seeds --runs flow runs (bench.seed),
and measures side by side on a fresh mirror database (default: a temporary SQLite file):
  (a) full sync with the bulk path — end to end, and its DB side alone;
  (b) a naive per-row `update_or_create` loop over the same payloads (DB side);
  (c) an incremental sync after 10 mirrored runs changed, repeated;
  (d) peak RSS of (a), measured in a child process that does only (a);
  freshness: runs of the served health-check flow, time from COMPLETED in Prefect to COMPLETED in the mirror via
  `manage.py listen_prefect_events` (p50/p95 over --fresh-runs runs).
With --write-results the figures replace the "sync" section of bench/RESULTS.md (one per database and N).
--freshness-only measures the last item alone; --flow-name reuses runs seeded by another bench (e.g. the 100k of
bench/graphql.py's PostgreSQL-backed Prefect, passed with --api-url).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "RESULTS.md"


def markers(vendor: str, runs: int) -> tuple[str, str]:
    """One section of bench/RESULTS.md per mirror database (sqlite, postgresql) and N."""
    return f"<!-- sync:{vendor}:{runs}:start -->", f"<!-- sync:{vendor}:{runs}:end -->"


def setup_django(database_url: str, api_url: str) -> None:
    os.environ["DATABASE_URL"] = database_url
    os.environ["PREFECT_API_URL"] = api_url
    os.environ["PREFECT_START_LOCAL_SERVER"] = "false"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "controlplane.settings")
    sys.path.insert(0, str(REPO))
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0, interactive=False)


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def reset_mirror() -> None:
    from workflows.models import FlowRun, FlowRunStateChange, SyncStatus

    FlowRunStateChange.objects.all().delete()
    FlowRun.objects.update(parent=None)
    FlowRun.objects.all().delete()
    SyncStatus.objects.all().delete()


# --- phases ---------------------------------------------------------------------------------------------------------


def phase_full_sync() -> dict[str, float]:
    """(a) end to end, from an empty mirror; run in a child process so its peak RSS is its own."""
    from workflows.models import FlowRun
    from workflows.sync import sync_flow_runs

    reset_mirror()
    baseline = rss_mb()
    started = time.perf_counter()
    result = sync_flow_runs(full=True)
    seconds = time.perf_counter() - started
    return {
        "seconds": seconds,
        "rows": FlowRun.objects.count(),
        "pages": result.pages,
        "rss_baseline_mb": baseline,
        "rss_peak_mb": rss_mb(),
    }


def already_seeded(count: int, flow_name: str) -> list[str] | None:
    """Run ids of an earlier seeding of this Prefect server (`--api-url`), if it made at least `count` runs."""
    from workflows import prefect_api

    body = {"flows": {"name": {"any_": [flow_name]}}}
    if prefect_api._post("/flow_runs/count", body) < count:
        return None
    return [run["id"] for page in prefect_api.iter_pages("/flow_runs/filter", body) for run in page][:count]


def fetch_all_pages() -> list[list[dict[str, Any]]]:
    from workflows import prefect_api

    with prefect_api.session():
        return list(prefect_api.iter_flow_runs(None, sort="EXPECTED_START_TIME_DESC"))


def db_side_bulk(pages: list[list[dict[str, Any]]]) -> float:
    from workflows.mirror import write_flow_runs

    reset_mirror()
    started = time.perf_counter()
    for page in pages:
        write_flow_runs(page, with_history=False, force=True)
    return time.perf_counter() - started


FOREIGN_KEYS = ("flow", "deployment", "work_pool", "parent")
# (a)'s DB side is short (seconds) and noisy on a shared 2-core machine: its median of a few runs is reported. (b)
# takes minutes, so it runs once.
BULK_REPEATS = 3


def pks_of(model: Any, prefect_id: str | None) -> dict[Any, int]:
    return {row.prefect_id: row.pk for row in model.objects.filter(prefect_id=prefect_id)} if prefect_id else {}


def db_side_naive(pages: list[list[dict[str, Any]]]) -> float:
    """What one would write first: one `update_or_create` per run (and its state-history row), references looked up
    per row."""
    from django.utils import timezone

    from workflows.mirror import _flow_run_row
    from workflows.models import Deployment, Flow, FlowRun, FlowRunStateChange, WorkPool
    from workflows.references import ReferencePks

    reset_mirror()
    fields = [f.name for f in FlowRun._meta.concrete_fields if f.name not in ("id", "prefect_id")]
    started = time.perf_counter()
    for page in pages:
        for payload in page:
            refs = ReferencePks(
                flows=pks_of(Flow, payload["flow_id"]),
                deployments=pks_of(Deployment, payload.get("deployment_id")),
                work_pools=pks_of(WorkPool, payload.get("work_pool_id")),
            )
            row = _flow_run_row(payload, None, refs, {}, timezone.now())
            defaults = {name: getattr(row, name) for name in fields if name not in FOREIGN_KEYS}
            defaults |= {"flow_id": row.flow_id, "deployment_id": row.deployment_id, "work_pool_id": row.work_pool_id}
            run, _ = FlowRun.objects.update_or_create(prefect_id=row.prefect_id, defaults=defaults)
            # The same history row the bulk path writes, so both end with the same data.
            FlowRunStateChange.objects.get_or_create(
                prefect_state_id=row.prefect_state_id,
                defaults={"flow_run": run, "to_state_type": row.state_type, "to_state_name": row.state_name,
                          "at": row.state_timestamp or timezone.now(), "message": row.state_message},
            )  # fmt: skip
    return time.perf_counter() - started


def incremental_after_changes(run_ids: list[str], rounds: int = 5, changed: int = 10) -> list[tuple[float, int]]:
    """(c) change `changed` mirrored runs in Prefect (rerun to COMPLETED), then time one incremental sync."""
    from workflows import prefect_api
    from workflows.sync import sync_flow_runs

    sync_flow_runs()  # warm: the first incremental after a full sync re-reads its overlap window
    rng = random.Random(7)
    figures = []
    for _ in range(rounds):
        for run_id in rng.sample(run_ids, changed):
            prefect_api.set_flow_run_state(run_id, "RUNNING", "Running", force=True)
            prefect_api.set_flow_run_state(run_id, "COMPLETED", "Completed", force=True)
        started = time.perf_counter()
        result = sync_flow_runs()
        figures.append((time.perf_counter() - started, result.rows_written))
    return figures


def freshness(api_url: str, count: int, home: Path) -> list[float]:
    """Seconds from COMPLETED in Prefect to COMPLETED in the mirror, through the event listener."""
    from datetime import datetime

    from django.utils import timezone

    from controlplane.devstack.processes import ManagedProcess
    from flows.serve import HEALTH_CHECK_DEPLOYMENT
    from tests.prefect_helpers import deployment_id, wait_for_deployments
    from workflows import prefect_api
    from workflows.models import FlowRun

    env = {"PREFECT_API_URL": api_url, "PREFECT_HOME": str(home / "client"), "PREFECT_RUNNER_POLL_FREQUENCY": "1",
           "HEALTH_CHECK_INTERVAL_SECONDS": "3600"}  # fmt: skip
    serve = ManagedProcess("serve", [sys.executable, "-m", "flows.serve"], env, home / "serve.log", cwd=REPO).start()
    listener = ManagedProcess(
        "listener", [sys.executable, "manage.py", "listen_prefect_events"], env, home / "listener.log", cwd=REPO
    ).start()
    lags = []
    try:
        wait_for_deployments(serve, {HEALTH_CHECK_DEPLOYMENT}, timeout=120)
        target = deployment_id(HEALTH_CHECK_DEPLOYMENT)
        time.sleep(3)  # the listener connects
        for _ in range(count):
            run_id = prefect_api.create_flow_run_from_deployment(target, {})["id"]
            seen = None
            deadline = time.monotonic() + 120
            while seen is None and time.monotonic() < deadline:
                if FlowRun.objects.filter(prefect_id=run_id, state_type="COMPLETED").exists():
                    seen = timezone.now()
                else:
                    time.sleep(0.02)
            final = prefect_api.read_flow_run(run_id)
            assert seen is not None and final["state_type"] == "COMPLETED", final["state_type"]
            lags.append((seen - datetime.fromisoformat(final["state"]["timestamp"])).total_seconds())
    finally:
        listener.stop()
        serve.stop()
    return lags


# --- driver ---------------------------------------------------------------------------------------------------------


def start_prefect(home: Path) -> tuple[Any, str]:
    from controlplane.devstack.processes import (
        ManagedProcess,
        free_port,
        prefect_server_command,
        prefect_server_env,
        wait_for_prefect,
    )

    port = free_port()
    server = ManagedProcess(
        "prefect", prefect_server_command("127.0.0.1", port), prefect_server_env(home, port), home / "server.log"
    ).start()
    api_url = f"http://127.0.0.1:{port}/api"
    wait_for_prefect(api_url, 120, server.is_alive)
    return server, api_url


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def report(args: argparse.Namespace, figures: dict[str, Any]) -> str:
    a, inc, lags = figures["full"], figures["incremental"], figures["freshness"]
    speedup = figures["naive_db"] / figures["bulk_db"]
    inc_times = [seconds for seconds, _ in inc]
    start, end = markers(figures["db_vendor"], args.runs)
    prefect = "the existing Prefect 3.8.8 server of --api-url" if args.api_url else "Prefect 3.8.8 server on SQLite"
    lines = [
        start,
        f"## Sync (workflows.sync), mirror on {figures['db_vendor']}",
        "",
        f"Command: `{figures['command']}`  ",
        f"Date: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; mirror DB: {figures['db_vendor']}; "
        f"{prefect} (own process); 2 cores. N = {a['rows']} flow runs.",
        "",
        "| measure | figure | target |",
        "|---|---|---|",
        f"| (a) full sync end to end ({a['pages']} pages of ≤200, Prefect reads included) | {a['seconds']:.1f} s | — |",
        f"| (a) DB side, bulk upsert of all runs (median of {len(figures['bulk_db_all'])}: "
        f"{', '.join(f'{x:.2f}' for x in figures['bulk_db_all'])} s) | {figures['bulk_db']:.2f} s | — |",
        f"| (b) DB side, naive per-row `update_or_create` | {figures['naive_db']:.2f} s | — |",
        f"| (a) vs (b) on the DB side | **{speedup:.1f}x** faster | ≥ 20x |",
        f"| (c) incremental sync, 10 runs changed (median of {len(inc)}; all: "
        f"{', '.join(f'{s:.3f}' for s in inc_times)} s; rows written {[w for _, w in inc]}) | "
        f"**{statistics.median(inc_times):.3f} s** | < 0.3 s, independent of N |",
        f"| (d) peak RSS of (a) (process baseline after imports: {a['rss_baseline_mb']:.0f} MB) | "
        f"**{a['rss_peak_mb']:.0f} MB** | < 250 MB at 100k |",
    ]
    if lags:
        lines.append(
            f"| freshness: COMPLETED in Prefect → in mirror via listener, {len(lags)} served runs "
            f"(p50 {percentile(lags, 0.5):.2f} s, max {max(lags):.2f} s) | **p95 {percentile(lags, 0.95):.2f} s** | "
            "p95 < 3 s |"
        )
    lines += ["", *NOTES, "", end]
    return "\n".join(lines)


NOTES = [
    "How to read these: (b) does per run 3 reference SELECTs, an `update_or_create` and a `get_or_create` of the",
    "history row, each in its own transaction (a commit, so an fsync, per write). (a) does per page of 200 about 8",
    "queries in one transaction. What (a) still spends is Python-side (Django compiling ~30 columns per row, building",
    "the rows) and index maintenance (FlowRun has 13 indexes for the admin/GraphQL filters, 2 of them partial), not",
    "round trips; its column arrays go to PostgreSQL as binary, server-bound parameters. A raw",
    "`executemany` upsert measured no faster than `bulk_create`. The machine has 2 cores, shared with whatever else",
    "runs on it, so figures move by ±30% between runs. (c) reads three time windows and the unfinished runs by",
    "id (none here), then the 10 changed runs' state histories on 8 threads; it does not grow with N. (d): the sync",
    "streams page by page, so its peak is the process baseline (Django + Prefect client imports). An earlier 10k",
    "run whose naive loop skipped the history row (less work than (a)) measured (a) 9x faster than (b).",
]


def write_results(section: str, vendor: str, runs: int) -> None:
    start, end = markers(vendor, runs)
    text = RESULTS.read_text() if RESULTS.exists() else "# Benchmark results\n"
    if start in text and end in text:
        before, rest = text.split(start, 1)
        text = before + section + rest.split(end, 1)[1]
    else:
        text = text.rstrip() + "\n\n" + section + "\n"
    RESULTS.write_text(text)


def main() -> None:
    parser = argparse.ArgumentParser(description="Benchmark the Prefect mirror sync.")
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--database-url", default="")
    parser.add_argument("--api-url", default="", help="an existing Prefect API (default: start one)")
    parser.add_argument("--fresh-runs", type=int, default=20)
    parser.add_argument(
        "--flow-name", default="bench-sync", help="runs of this flow count as seeded (reuse another bench's Prefect)"
    )
    parser.add_argument("--write-results", action="store_true")
    parser.add_argument(
        "--freshness-only", action="store_true", help="measure only the listener's freshness (prints p50/p95/max)"
    )
    parser.add_argument("--phase", choices=["full"], help=argparse.SUPPRESS)  # child process for (a)/(d)
    args = parser.parse_args()

    if args.phase == "full":
        setup_django(args.database_url, args.api_url)
        print(json.dumps(phase_full_sync()))
        return

    home = Path(tempfile.mkdtemp(prefix="bench-sync-"))
    database_url = args.database_url or f"sqlite:///{home / 'mirror.sqlite3'}"
    server, api_url = (None, args.api_url) if args.api_url else start_prefect(home / "prefect")
    try:
        setup_django(database_url, api_url)
        from django.db import connection

        from bench.seed import seed_flow_runs

        if args.freshness_only:
            lags = freshness(api_url, args.fresh_runs, home)
            print(
                f"freshness over {len(lags)} served runs: p50 {percentile(lags, 0.5):.2f} s, "
                f"p95 {percentile(lags, 0.95):.2f} s, max {max(lags):.2f} s; all: {[round(x, 2) for x in lags]}"
            )
            return
        run_ids = already_seeded(args.runs, args.flow_name)
        if run_ids is None:
            seeded = seed_flow_runs(api_url, args.runs, flow_name=args.flow_name, deployment_name="bench-sync")
            print(f"seeded {args.runs} runs in {seeded.seconds:.0f}s", flush=True)
            run_ids = seeded.run_ids
            time.sleep(31)  # past the sync's 30 s window overlap: seeded runs are history, not "just changed"

        child = [sys.executable, "-m", "bench.sync", "--phase", "full"]
        child += ["--database-url", database_url, "--api-url", api_url]
        output = subprocess.run(child, cwd=REPO, check=True, capture_output=True, text=True).stdout
        full = json.loads(output.strip().splitlines()[-1])
        print(f"(a) full sync: {full}", flush=True)
        incremental = incremental_after_changes(run_ids)
        print(f"(c) incremental: {incremental}", flush=True)
        pages = fetch_all_pages()
        bulk_db_all = [db_side_bulk(pages) for _ in range(BULK_REPEATS)]
        bulk_db = statistics.median(bulk_db_all)
        print(f"(a) DB side bulk: {bulk_db:.2f}s (median of {[round(x, 2) for x in bulk_db_all]})", flush=True)
        naive_db = db_side_naive(pages)
        print(f"(b) DB side naive: {naive_db:.2f}s", flush=True)
        lags = freshness(api_url, args.fresh_runs, home) if args.fresh_runs else []
        print(f"freshness lags: {[round(x, 2) for x in lags]}", flush=True)
        command = "python -m bench.sync " + " ".join(a for a in sys.argv[1:] if a != "--write-results")
        figures = {"full": full, "incremental": incremental, "bulk_db": bulk_db, "bulk_db_all": bulk_db_all,
                   "naive_db": naive_db,
                   "freshness": lags, "command": command.strip(), "db_vendor": connection.vendor}  # fmt: skip
        section = report(args, figures)
        print(section)
        if args.write_results:
            write_results(section, connection.vendor, args.runs)
    finally:
        if server:
            server.stop()


if __name__ == "__main__":
    main()
