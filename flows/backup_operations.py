"""`backup_operations`: back up the control plane's database to BACKUP_DIR (timestamped, with a sha256 file), verify
the backup by restoring it into a scratch database and comparing every table's row count with the live database's
in the same snapshot, then prune old backups (keep the newest of each of `keep_daily` days and `keep_weekly` weeks).

A backup that fails its checksum or restores with different counts fails the run (and is kept, for inspection)."""

from __future__ import annotations

from typing import Any

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact

from controlplane.backups import databases, files

REPORT_KEY = "backup-report"


@task
def write_backup() -> dict[str, Any]:
    taken = databases.take_backup()
    digest = files.write_checksum(taken.backup)
    return {"path": str(taken.backup.path), "sha256": digest, "row_counts": taken.row_counts}


@task
def verify_backup(path: str, expected_counts: dict[str, int]) -> dict[str, int]:
    """Checksum, then a restore into the scratch database; raises when either disagrees."""
    backup = files.find_backup(path)
    if not files.checksum_matches(backup):
        raise RuntimeError(f"{backup.path.name}: the checksum does not match the file")
    restored = databases.restore_into_scratch(backup)
    differences = count_differences(expected_counts, restored)
    if differences:
        raise RuntimeError(f"{backup.path.name} restored with different row counts: {differences}")
    return restored


@task
def prune_backups(keep_daily: int, keep_weekly: int) -> list[str]:
    expired = files.backups_to_prune(files.list_backups(), keep_daily, keep_weekly)
    for backup in expired:
        files.delete_backup(backup)
    return [backup.path.name for backup in expired]


def count_differences(live: dict[str, int], restored: dict[str, int]) -> dict[str, dict[str, int | None]]:
    """Tables whose row counts differ (None: the table is missing on that side)."""
    return {
        table: {"live": live.get(table), "backup": restored.get(table)}
        for table in sorted(live.keys() | restored.keys())
        if live.get(table) != restored.get(table)
    }


@flow(name="backup_operations")
def backup_operations(keep_daily: int = 7, keep_weekly: int = 4) -> dict[str, Any]:
    """Back up, verify by a scratch restore, prune by retention; returns the backup's path, checksum, row counts and
    the names of the pruned backups."""
    if keep_daily < 1 or keep_weekly < 0:
        raise ValueError("keep_daily must be >= 1 (the new backup is kept) and keep_weekly >= 0")
    backup = write_backup()
    restored = verify_backup(backup["path"], backup["row_counts"])
    pruned = prune_backups(keep_daily, keep_weekly)
    get_run_logger().info("backup %s verified (%d tables); pruned %d", backup["path"], len(restored), len(pruned))
    create_markdown_artifact(report_markdown(backup, pruned), key=REPORT_KEY, description="Database backup")
    return {**backup, "verified": True, "pruned": pruned}


def report_markdown(backup: dict[str, Any], pruned: list[str]) -> str:
    lines = [f"# Backup `{backup['path']}`", "", f"sha256 `{backup['sha256']}`; verified by a scratch restore.", ""]
    lines += ["| table | rows |", "|---|---|"]
    lines += [f"| {table} | {count} |" for table, count in sorted(backup["row_counts"].items())]
    lines += ["", f"Pruned by retention: {', '.join(pruned) or 'none'}"]
    return "\n".join(lines)
