"""`etl_pipeline`: a parameterised example pipeline — extract with retries and exponential backoff, transform in
batches, load a summary. Parameters are validated by Prefect from the type hints (a string for `rows` is refused
before the run starts)."""

from __future__ import annotations

import random
import time

from prefect import flow, get_run_logger, task
from prefect.runtime import task_run
from prefect.tasks import exponential_backoff


class TransientSourceError(RuntimeError):
    """The source was briefly unavailable; the task is retried."""


EXTRACT_RETRIES = 3


@task(retries=EXTRACT_RETRIES, retry_delay_seconds=exponential_backoff(backoff_factor=1))
def extract(rows: int, seed: int, transient_failures: int) -> list[int]:
    """Read `rows` records. The first `transient_failures` attempts fail, to exercise the retry path."""
    attempt = task_run.run_count
    if attempt <= transient_failures:
        raise TransientSourceError(f"source unavailable on attempt {attempt}")
    generator = random.Random(seed)  # noqa: S311 -- reproducible sample data, not security
    return [generator.randint(0, 1000) for _ in range(rows)]


@task
def transform(batch: list[int], multiplier: float) -> list[float]:
    return [value * multiplier for value in batch]


@task
def load(batches: list[list[float]]) -> dict[str, float]:
    values = [value for batch in batches for value in batch]
    return {
        "rows": float(len(values)),
        "total": round(sum(values), 4),
        "maximum": max(values, default=0.0),
    }


@flow(name="etl_pipeline")
def etl_pipeline(
    rows: int = 100,
    batch_size: int = 25,
    multiplier: float = 1.0,
    seed: int = 42,
    transient_failures: int = 0,
    sleep_seconds: float = 0,
) -> dict[str, float]:
    """Extract `rows` records, transform them in batches of `batch_size`, and load a summary.

    `sleep_seconds` first waits that long, standing in for a slow source (and keeping a run cancellable in tests).
    """
    if rows < 0 or batch_size < 1:
        raise ValueError("rows must be >= 0 and batch_size >= 1")
    if sleep_seconds > 0:
        get_run_logger().info("waiting %ss for the source", sleep_seconds)
        time.sleep(sleep_seconds)
    if transient_failures > EXTRACT_RETRIES:
        raise ValueError(f"transient_failures must be <= {EXTRACT_RETRIES} (the extract task's retries)")
    records = extract(rows, seed, transient_failures)
    batches = [transform(records[i : i + batch_size], multiplier) for i in range(0, len(records), batch_size)]
    summary = load(batches)
    get_run_logger().info("loaded %s rows, total %s", summary["rows"], summary["total"])
    return summary
