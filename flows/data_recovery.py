"""`data_recovery`: restore a named backup (or the newest, `latest`) into the scratch database and report how it
differs from the live database, table by table — a restore drill, and the first step of a recovery.

Restoring over the live database (`target="live"`) is refused unless `confirm=True`, and is only for a stopped
stack: stop the web, Celery and the listener first (the flow cannot check that other processes are gone), then run
this flow once by hand (`prefect deployment run` or the admin's trigger with both parameters)."""

from __future__ import annotations

from typing import Any, Literal

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact

from controlplane.backups import databases, files
from flows.backup_operations import count_differences

LATEST = "latest"
REPORT_KEY = "data-recovery-report"


class RestoreRefused(ValueError):
    """A restore over the live database without confirm=True."""


@task
def checked_backup(backup_name: str) -> str:
    backups = files.list_backups()
    if backup_name == LATEST:
        if not backups:
            raise FileNotFoundError(f"no backups in {files.backup_dir()}")
        backup = backups[0]
    else:
        backup = files.find_backup(backup_name)
    if not files.checksum_matches(backup):
        raise RuntimeError(f"{backup.path.name}: the checksum does not match; not restoring it")
    return str(backup.path)


@task
def restore(path: str, target: str) -> dict[str, int]:
    backup = files.find_backup(path)
    return databases.restore_over_live(backup) if target == "live" else databases.restore_into_scratch(backup)


@flow(name="data_recovery")
def data_recovery(
    backup_name: str = LATEST, target: Literal["scratch", "live"] = "scratch", confirm: bool = False
) -> dict[str, Any]:
    """Restore `backup_name` into `target`; returns the backup's tables' row counts and the differences from live
    (measured before a restore over live)."""
    if target == "live" and not confirm:
        raise RestoreRefused(
            "Refusing to restore over the live database without confirm=True (and stop the stack first)."
        )
    path = checked_backup(backup_name)
    live_before = databases.live_row_counts()
    restored = restore(path, target)
    differences = count_differences(live_before, restored)
    get_run_logger().info("restored %s into %s: %d tables differ from live", path, target, len(differences))
    create_markdown_artifact(report_markdown(path, target, differences), key=REPORT_KEY, description="Restore")
    return {"backup": path, "target": target, "row_counts": restored, "differences": differences}


def report_markdown(path: str, target: str, differences: dict[str, dict[str, int | None]]) -> str:
    lines = [f"# Restore of `{path}` into {target}", ""]
    if not differences:
        return "\n".join([*lines, "Every table has the same number of rows as the live database."])
    lines += ["| table | live rows | backup rows |", "|---|---|---|"]
    lines += [f"| {table} | {d['live']} | {d['backup']} |" for table, d in differences.items()]
    return "\n".join(lines)
