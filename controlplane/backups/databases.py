"""The engine-specific part of backups: write one, restore one (into a scratch database, or over the live one on
explicit request), count the rows of every table.

- **SQLite**: the online backup API (`sqlite3.Connection.backup`) from Django's own connection, inside one read
  transaction that first counts every table, so the counts and the copy see the same snapshot. The scratch database
  is a file in BACKUP_DIR (`scratch.sqlite3`).
- **PostgreSQL**: `pg_dump -Fc` with the snapshot exported by a REPEATABLE READ transaction that counts every table
  (`--snapshot`), so again counts and dump agree. Restored with `pg_restore` into BACKUP_SCRATCH_DATABASE (default:
  the live name + `_scratch`), dropped and re-created each time (the user needs CREATEDB). The client tools must be
  at least the server's major version (pg_dump refuses an older-than-server dump otherwise).
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
from django.conf import settings
from django.db import connection, transaction

from controlplane.backups.files import BackupFile, backup_dir, new_backup_path, parse_backup_name

TABLES_SQL = {
    "sqlite": "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name",
    "postgresql": "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename",
}
SQLITE_SCRATCH_NAME = "scratch.sqlite3"
PG_TIMEOUT_SECONDS = 3600


@dataclass(frozen=True)
class TakenBackup:
    backup: BackupFile
    row_counts: dict[str, int]  # the live database's, in the snapshot the backup copied


def count_rows(cursor: Any, vendor: str) -> dict[str, int]:
    """Rows in every table (SQLite's internal tables and other PostgreSQL schemas left out)."""
    cursor.execute(TABLES_SQL[vendor])
    tables = [row[0] for row in cursor.fetchall()]
    counts = {}
    for table in tables:
        cursor.execute(f'SELECT count(*) FROM "{table.replace(chr(34), chr(34) * 2)}"')  # noqa: S608 -- a table name
        counts[table] = cursor.fetchone()[0]
    return counts


def live_row_counts() -> dict[str, int]:
    with connection.cursor() as cursor:
        return count_rows(cursor, connection.vendor)


def take_backup() -> TakenBackup:
    if connection.vendor == "sqlite":
        return _sqlite_backup()
    if connection.vendor == "postgresql":
        return _postgres_backup()
    raise NotImplementedError(f"backups of {connection.vendor} databases are not supported")


def restore_into_scratch(backup: BackupFile) -> dict[str, int]:
    """Restore `backup` into the scratch database (replacing what was there); returns its row counts."""
    if backup.path.suffix == ".sqlite3":
        return _sqlite_restore(backup.path, backup_dir() / SQLITE_SCRATCH_NAME)
    return _postgres_restore_into_scratch(backup.path)


def restore_over_live(backup: BackupFile) -> dict[str, int]:
    """Replace the live database's content with `backup`'s. Only for a stopped stack (data_recovery with
    confirm=True): other processes' connections would see the tables change under them."""
    if connection.vendor == "sqlite":
        connection.ensure_connection()
        with closing(sqlite3.connect(f"file:{backup.path}?mode=ro", uri=True)) as source:
            source.backup(connection.connection)
    else:
        _pg_run(["pg_restore", "--clean", "--if-exists", "--no-owner", "--no-privileges", "--single-transaction",
                 "--exit-on-error", "-d", connection.settings_dict["NAME"], str(backup.path)])  # fmt: skip
    return live_row_counts()


def backup_extension() -> str:
    return ".sqlite3" if connection.vendor == "sqlite" else ".dump"


# --- SQLite ---------------------------------------------------------------------------------------------------------


def _sqlite_backup() -> TakenBackup:
    """Counts and copy in one read transaction (a consistent WAL snapshot). Not Django's atomic(): that takes the
    write lock (transaction_mode IMMEDIATE), and SQLite's backup from a connection holding it never finishes."""
    path = new_backup_path(".sqlite3")
    if not connection.get_autocommit():
        raise RuntimeError("back up outside any transaction: the backup needs its own read transaction")
    connection.ensure_connection()
    raw = connection.connection
    raw.execute("BEGIN DEFERRED")
    try:
        counts = count_rows(raw.cursor(), "sqlite")
        with closing(sqlite3.connect(path)) as target:
            raw.backup(target)
    finally:
        raw.execute("COMMIT")
    return TakenBackup(_parsed(path), counts)


def _sqlite_restore(source_path: Path, scratch_path: Path) -> dict[str, int]:
    scratch_path.unlink(missing_ok=True)
    source_uri = f"file:{source_path}?mode=ro"
    with closing(sqlite3.connect(source_uri, uri=True)) as source, closing(sqlite3.connect(scratch_path)) as scratch:
        source.backup(scratch)
        return count_rows(scratch.cursor(), "sqlite")


# --- PostgreSQL -----------------------------------------------------------------------------------------------------


def _postgres_backup() -> TakenBackup:
    path = new_backup_path(".dump")
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        cursor.execute("SELECT pg_export_snapshot()")
        snapshot = cursor.fetchone()[0]
        counts = count_rows(cursor, "postgresql")
        _pg_run(["pg_dump", "-Fc", "--snapshot", snapshot, "-f", str(path), connection.settings_dict["NAME"]])
    return TakenBackup(_parsed(path), counts)


def scratch_database_name() -> str:
    live = connection.settings_dict["NAME"]
    name = settings.BACKUP_SCRATCH_DATABASE or f"{live}_scratch"
    if name == live:
        raise ValueError("BACKUP_SCRATCH_DATABASE names the live database; a scratch restore would destroy it")
    return name


def _postgres_restore_into_scratch(path: Path) -> dict[str, int]:
    scratch = scratch_database_name()
    with _pg_connect("postgres", autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{scratch}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{scratch}"')
    _pg_run(["pg_restore", "--no-owner", "--no-privileges", "--exit-on-error", "-d", scratch, str(path)])
    with _pg_connect(scratch) as restored:
        return count_rows(restored.cursor(), "postgresql")


@contextmanager
def _pg_connect(dbname: str, autocommit: bool = False) -> Iterator[psycopg.Connection[Any]]:
    params = connection.settings_dict
    with psycopg.connect(
        dbname=dbname,
        host=params.get("HOST") or None,
        port=params.get("PORT") or None,
        user=params.get("USER") or None,
        password=params.get("PASSWORD") or None,
        autocommit=autocommit,
    ) as pg:
        yield pg


def _pg_run(command: list[str]) -> None:
    params = connection.settings_dict
    env = {**os.environ, "PGHOST": params.get("HOST") or "", "PGPORT": str(params.get("PORT") or "")}
    env |= {"PGUSER": params.get("USER") or "", "PGPASSWORD": params.get("PASSWORD") or ""}
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=PG_TIMEOUT_SECONDS)
    if result.returncode != 0:
        raise RuntimeError(f"{command[0]} failed ({result.returncode}): {result.stderr.strip()[:2000]}")


def _parsed(path: Path) -> BackupFile:
    backup = parse_backup_name(path)
    assert backup is not None, path
    return backup
