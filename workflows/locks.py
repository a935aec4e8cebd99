"""One process at a time: a named lock held for the length of a sync.

PostgreSQL: a session advisory lock (per database, released if the connection dies). SQLite: an exclusive `flock`
on a file under VAR_DIR named after the database, so every process on the host sharing that SQLite file (web,
Celery worker, beat, commands) contends for the same lock, while an in-memory test database gets one of its own.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import time
from collections.abc import Iterator
from pathlib import Path

from django.conf import settings
from django.db import connection

POLL_SECONDS = 0.2


def _advisory_key(name: str) -> int:
    """A stable signed 64-bit key for `name` (PostgreSQL advisory locks take a bigint)."""
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)


def _lock_file(name: str) -> Path:
    database = str(connection.settings_dict.get("NAME") or "default")
    if connection.is_in_memory_db():
        database += f"-pid{os.getpid()}"  # an in-memory database (tests) exists in this process only
    digest = hashlib.sha256(database.encode()).hexdigest()[:12]
    folder = Path(settings.VAR_DIR) / "locks"
    folder.mkdir(parents=True, exist_ok=True)
    return folder / f"{name}-{digest}.lock"


@contextlib.contextmanager
def exclusive(name: str, wait_seconds: float = 0) -> Iterator[bool]:
    """Hold the lock `name` for the block; yields False (and holds nothing) if it was not free within `wait_seconds`."""
    lock = _postgres_lock if connection.vendor == "postgresql" else _file_lock
    with lock(name, wait_seconds) as acquired:
        yield acquired


def _deadline_loop(wait_seconds: float) -> Iterator[None]:
    deadline = time.monotonic() + wait_seconds
    while True:
        yield
        if time.monotonic() >= deadline:
            return
        time.sleep(POLL_SECONDS)


@contextlib.contextmanager
def _postgres_lock(name: str, wait_seconds: float) -> Iterator[bool]:
    key = _advisory_key(name)
    acquired = False
    with connection.cursor() as cursor:
        for _ in _deadline_loop(wait_seconds):
            cursor.execute("SELECT pg_try_advisory_lock(%s)", [key])
            acquired = cursor.fetchone()[0]
            if acquired:
                break
    try:
        yield acquired
    finally:
        if acquired:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(%s)", [key])


@contextlib.contextmanager
def _file_lock(name: str, wait_seconds: float) -> Iterator[bool]:
    with _lock_file(name).open("a") as handle:
        acquired = False
        for _ in _deadline_loop(wait_seconds):
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                continue
            acquired = True
            break
        try:
            yield acquired
        finally:
            if acquired:
                fcntl.flock(handle, fcntl.LOCK_UN)
