"""The stream pipeline: `stream_incremental` (every 5 minutes) consumes new entries of the Redis stream into the
`pipelines.StreamRecord` table; `stream_full_analysis` (every 6 hours) runs refresh → analyse → store metrics →
evaluate, each step a task that starts only when the one before has finished.

Consumption is at-least-once and stored exactly once: entries are read through a consumer group (`XREADGROUP`),
stored (one transaction, unique per message id), and only then acknowledged (`XACK`); entries a dead consumer left
pending are reclaimed (`XAUTOCLAIM`) once idle for `reclaim_idle_seconds`. Every task retries with exponential
backoff and jitter, each flow retries once, and a run that fails for good raises a critical alert (`on_failure`).
Without `STREAM_REDIS_URL` both flows log why and finish Completed as skipped.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.utils import timezone
from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE
from prefect.runtime import flow_run, task_run
from prefect.states import Completed, State
from prefect.tasks import exponential_backoff

from flows.alerting import alert_on_failure
from pipelines import services, stream
from pipelines.models import StreamMetric
from pipelines.stream import StreamEntry

TASK_RETRIES = 3
RETRY_BACKOFF_SECONDS = 2.0  # retries after about 2, 4 and 8 s
# Prefect draws each delay from 0.75 to 1.3 times the nominal one: spread out, yet each longer than the last.
RETRY_JITTER_FACTOR = 0.3
RETRY_POLICY: dict[str, Any] = {
    "retries": TASK_RETRIES,
    "retry_delay_seconds": exponential_backoff(backoff_factor=RETRY_BACKOFF_SECONDS),
    "retry_jitter_factor": RETRY_JITTER_FACTOR,
    "cache_policy": NO_CACHE,  # every step reads or writes live state: never served from a cache
}
FLOW_RETRY_DELAY_SECONDS = 30
SKIPPED_MESSAGE = "Skipped: STREAM_REDIS_URL is not set, so there is no stream to read."


class TransientStoreError(RuntimeError):
    """A drill: the store step fails on purpose, to exercise the retry path."""


@task(**RETRY_POLICY)
def claim_stale_entries(
    url: str, stream_name: str, group: str, consumer: str, min_idle_seconds: float, limit: int
) -> list[StreamEntry]:
    """This consumer's own unacknowledged entries (a retried run), then entries other consumers left pending."""
    client = stream.connect(url)
    stream.ensure_group(client, stream_name, group)
    own = stream.read_own_pending(client, stream_name, group, consumer, limit)
    stale = stream.reclaim_stale(client, stream_name, group, consumer, int(min_idle_seconds * 1000), limit)
    unique = {entry.message_id: entry for entry in [*own, *stale]}
    return list(unique.values())[:limit]


@task(**RETRY_POLICY)
def read_new_entries(url: str, stream_name: str, group: str, consumer: str, count: int) -> list[StreamEntry]:
    return stream.read_new(stream.connect(url), stream_name, group, consumer, count)


@task(**RETRY_POLICY)
def store_batch(stream_name: str, entries: list[StreamEntry], drill_failures: int = 0) -> services.StoredBatch:
    attempt = task_run.run_count
    if flow_run.run_count <= 1 and attempt <= drill_failures:  # the drill's failures are over once the flow retries
        raise TransientStoreError(f"drill: store attempt {attempt} of {drill_failures} failing on purpose")
    return services.store_entries(stream_name, entries)


@task(**RETRY_POLICY)
def acknowledge_batch(url: str, stream_name: str, group: str, message_ids: list[str]) -> int:
    return stream.acknowledge(stream.connect(url), stream_name, group, message_ids)


@task(**RETRY_POLICY)
def forget_consumers(url: str, stream_name: str, group: str, consumer: str, min_idle_seconds: float) -> int:
    """This run's consumer, and consumers of earlier runs idle that long, leave the group once they hold nothing."""
    client = stream.connect(url)
    others = stream.forget_idle_consumers(client, stream_name, group, consumer, int(min_idle_seconds * 1000))
    return len(others) + stream.forget_consumer_if_done(client, stream_name, group, consumer)


def consume(
    url: str, consumer: str, batch_size: int, max_batches: int, reclaim_idle_seconds: float, drill_failures: int = 0,
    step: Callable[[Any], Callable[..., Any]] = lambda t: t,
) -> dict[str, int]:  # fmt: skip
    """Reclaim stale entries, then read new ones batch by batch; each batch is stored, then acknowledged.

    `step` picks how each step runs: as a Prefect task (the default) or as its plain function (`lambda t: t.fn`,
    inside another task)."""
    name, group = settings.STREAM_NAME, settings.STREAM_CONSUMER_GROUP
    totals = dict.fromkeys(("reclaimed", "read", "stored", "rejected", "acknowledged", "batches"), 0)
    batch = step(claim_stale_entries)(url, name, group, consumer, reclaim_idle_seconds, batch_size)
    totals["reclaimed"] = len(batch)
    while totals["batches"] < max_batches:
        if not batch:
            batch = step(read_new_entries)(url, name, group, consumer, batch_size)
            totals["read"] += len(batch)
            if not batch:
                break
        stored = step(store_batch)(name, batch, drill_failures if totals["batches"] == 0 else 0)
        totals["acknowledged"] += step(acknowledge_batch)(url, name, group, stored.message_ids)
        totals["stored"] += stored.stored
        totals["rejected"] += len(stored.rejected)
        totals["batches"] += 1
        batch = []
    totals["consumers_forgotten"] = step(forget_consumers)(url, name, group, consumer, reclaim_idle_seconds)
    return totals


def _skipped() -> State:
    get_run_logger().warning(SKIPPED_MESSAGE)
    return Completed(message=SKIPPED_MESSAGE)


@flow(
    name="stream_incremental",
    retries=1,
    retry_delay_seconds=FLOW_RETRY_DELAY_SECONDS,
    on_failure=[alert_on_failure],
)
def stream_incremental(
    batch_size: int = 500,
    max_batches: int = 20,
    reclaim_idle_seconds: float = 60.0,
    consumer: str = "",
    drill_transient_failures: int = 0,
) -> dict[str, int] | State:
    """Consume new entries of the stream into the StreamRecord table (at most `max_batches` of `batch_size`).

    `consumer` names this reader in the group (default: host and process id). `drill_transient_failures` makes the
    first that many attempts at storing the first batch fail (in the run's first attempt only), to exercise the
    task's retries (3) and, beyond them, the flow's retry."""
    url = settings.STREAM_REDIS_URL
    if not url:
        return _skipped()
    consumer = consumer or stream.default_consumer_name()
    totals = consume(url, consumer, batch_size, max_batches, reclaim_idle_seconds, drill_transient_failures)
    get_run_logger().info("consumed as %s: %s", consumer, totals)
    return totals


@task(**RETRY_POLICY)
def refresh(url: str, batch_size: int, max_batches: int, reclaim_idle_seconds: float) -> dict[str, int]:
    """Bring the table up to date with the stream before analysing it."""
    consumer = stream.default_consumer_name()
    return consume(url, consumer, batch_size, max_batches, reclaim_idle_seconds, step=lambda t: t.fn)


@task(**RETRY_POLICY)
def analyse(window_hours: float) -> dict[str, Any]:
    end = timezone.now()
    start = end - timedelta(hours=window_hours)
    return {"start": start, "end": end, "figures": services.window_figures(settings.STREAM_NAME, start, end)}


@task(**RETRY_POLICY)
def store_window_metrics(analysis: dict[str, Any]) -> list[StreamMetric]:
    return services.store_metrics(settings.STREAM_NAME, analysis["start"], analysis["end"], analysis["figures"])


@task(**RETRY_POLICY)
def evaluate(metrics: list[StreamMetric], p95_threshold: float) -> list[str]:
    return services.alert_on_hot_sources(settings.STREAM_NAME, metrics, p95_threshold)


@flow(
    name="stream_full_analysis",
    retries=1,
    retry_delay_seconds=FLOW_RETRY_DELAY_SECONDS,
    on_failure=[alert_on_failure],
)
def stream_full_analysis(
    window_hours: float = 6.0,
    p95_threshold: float = 90.0,
    batch_size: int = 500,
    max_batches: int = 200,
    reclaim_idle_seconds: float = 60.0,
) -> dict[str, Any] | State:
    """Refresh the table from the stream, compute each source's figures over the last `window_hours`, store them
    as StreamMetric rows, and alert on every source whose p95 is above `p95_threshold`."""
    url = settings.STREAM_REDIS_URL
    if not url:
        return _skipped()
    refreshed = refresh(url, batch_size, max_batches, reclaim_idle_seconds)
    analysis = analyse(window_hours)
    metrics = store_window_metrics(analysis)
    alerted = evaluate(metrics, p95_threshold)
    summary = {"refreshed": refreshed, "sources": len(metrics), "records": sum(m.count for m in metrics)}
    summary["alerted"] = alerted
    get_run_logger().info("full analysis: %s", summary)
    return summary
