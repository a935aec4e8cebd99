"""The Redis stream the pipeline consumes, through a consumer group (Redis ≥ 6.2).

Each consumer reads new entries with `XREADGROUP … >`; an entry stays in the group's pending list until it is
acknowledged (`XACK`), which the pipeline does only after the entry is stored. Entries left pending by a consumer
that died (a killed flow run) are taken over with `XAUTOCLAIM` once they have been idle long enough.
"""

from __future__ import annotations

import functools
import os
import socket
from collections.abc import Mapping
from dataclasses import dataclass

import redis

# A stream never grows without bound: XADD trims it to about this many entries (consumed or not).
STREAM_MAX_LENGTH = 100_000


@dataclass(frozen=True)
class StreamEntry:
    message_id: str
    fields: dict[str, str]


@functools.cache
def connect(url: str) -> redis.Redis:
    """One client (and connection pool) per URL and process; answers decoded as text."""
    return redis.Redis.from_url(url, decode_responses=True, socket_timeout=10, socket_connect_timeout=5)


def default_consumer_name() -> str:
    """Host and process: each flow run process is its own consumer, so one that dies leaves its entries pending
    under its own name for the next run to reclaim."""
    return f"{socket.gethostname()}-{os.getpid()}"


def ensure_group(client: redis.Redis, stream: str, group: str) -> None:
    """Create the consumer group (and the stream) if missing; a new group starts with the stream's first entry."""
    try:
        client.xgroup_create(stream, group, id="0", mkstream=True)
    except redis.ResponseError as exc:
        if "BUSYGROUP" not in str(exc):
            raise


def reclaim_stale(
    client: redis.Redis, stream: str, group: str, consumer: str, min_idle_ms: int, limit: int
) -> list[StreamEntry]:
    """Take over up to `limit` entries pending for at least `min_idle_ms` under any consumer (`XAUTOCLAIM`)."""
    entries: list[StreamEntry] = []
    start = "0-0"
    while len(entries) < limit:
        answer = client.xautoclaim(stream, group, consumer, min_idle_ms, start_id=start, count=limit - len(entries))
        start, claimed = answer[0], answer[1]
        entries.extend(StreamEntry(message_id, dict(fields)) for message_id, fields in claimed if fields is not None)
        if start == "0-0":
            break
    return entries


def read_own_pending(client: redis.Redis, stream: str, group: str, consumer: str, count: int) -> list[StreamEntry]:
    """Entries delivered to `consumer` and not yet acknowledged (`XREADGROUP … 0`): what a failed attempt of the same
    run read before it retries."""
    answer = client.xreadgroup(group, consumer, {stream: "0"}, count=count)
    return [StreamEntry(message_id, dict(fields)) for _, messages in answer or [] for message_id, fields in messages]


def read_new(client: redis.Redis, stream: str, group: str, consumer: str, count: int) -> list[StreamEntry]:
    """Up to `count` entries never delivered to the group (`XREADGROUP … >`); they become pending for `consumer`."""
    answer = client.xreadgroup(group, consumer, {stream: ">"}, count=count)
    return [StreamEntry(message_id, dict(fields)) for _, messages in answer or [] for message_id, fields in messages]


def acknowledge(client: redis.Redis, stream: str, group: str, message_ids: list[str]) -> int:
    return int(client.xack(stream, group, *message_ids)) if message_ids else 0


def forget_idle_consumers(client: redis.Redis, stream: str, group: str, keep: str, min_idle_ms: int) -> list[str]:
    """Remove the group's consumers that hold no pending entries and have been idle for `min_idle_ms` (every run is
    a consumer of its own: without this the group would collect one per run). A consumer with pending entries is
    kept: removing it would drop them unacknowledged. `keep` (the running consumer) is left alone."""
    forgotten = []
    for consumer in client.xinfo_consumers(stream, group):
        name = consumer["name"]
        if name != keep and consumer["pending"] == 0 and consumer["idle"] >= min_idle_ms:
            client.xgroup_delconsumer(stream, group, name)
            forgotten.append(name)
    return forgotten


def forget_consumer_if_done(client: redis.Redis, stream: str, group: str, consumer: str) -> bool:
    """Remove `consumer` from the group when it holds no pending entries (all it read was acknowledged)."""
    holding = client.xpending_range(stream, group, min="-", max="+", count=1, consumername=consumer)
    if holding:
        return False
    client.xgroup_delconsumer(stream, group, consumer)
    return True


def pending_count(client: redis.Redis, stream: str, group: str) -> int:
    return int(client.xpending(stream, group)["pending"])


def append(client: redis.Redis, stream: str, fields: Mapping[str, str]) -> str:
    return str(client.xadd(stream, dict(fields), maxlen=STREAM_MAX_LENGTH, approximate=True))
