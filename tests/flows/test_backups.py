"""backup_operations and data_recovery against the real database and a real Prefect server: the backup exists, its
checksum is right, it restores with the live row counts; retention deletes exactly the expired backups; a restore
reports what differs from live and never goes over live without confirm=True."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from controlplane.backups import databases, files
from flows.backup_operations import REPORT_KEY, backup_operations
from flows.data_recovery import RestoreRefused, data_recovery
from tests.factories import FlowRunFactory
from tests.flows.conftest import artifacts_of
from workflows.models import FlowRun

pytestmark = pytest.mark.prefect


@pytest.fixture(autouse=True)
def backup_dir(settings, tmp_path):
    settings.BACKUP_DIR = tmp_path / "backups"
    return settings.BACKUP_DIR


def test_backup_is_written_with_its_checksum_and_restores_with_the_live_row_counts(run_flow):
    FlowRunFactory.create_batch(3)

    result, run = run_flow(backup_operations)

    assert run["state_type"] == "COMPLETED", run["state"]
    backup = files.find_backup(result["path"])
    assert backup.path.stat().st_size > 0
    assert backup.checksum_path.read_text() == f"{files.sha256_of(backup.path)}  {backup.path.name}\n"
    assert result["row_counts"] == databases.live_row_counts()
    assert result["row_counts"]["workflows_flowrun"] == 3
    assert databases.restore_into_scratch(backup) == databases.live_row_counts()
    assert [a for a in artifacts_of(run["id"]) if a["key"] == REPORT_KEY]


def test_retention_deletes_exactly_the_backups_outside_the_daily_and_weekly_windows(run_flow, backup_dir):
    backup_dir.mkdir(parents=True)
    now = datetime.now(UTC)
    # Two backups a day for ten days: 2 daily + 3 weekly keep the newest of the two newest days and of three weeks.
    seeded = [files.new_backup_path(".sqlite3", now - timedelta(days=day, hours=hour)) for day in range(1, 11)
              for hour in (1, 2)]  # fmt: skip
    for path in seeded:
        path.write_bytes(b"old backup")
        files.write_checksum(files.parse_backup_name(path))

    result, run = run_flow(backup_operations, keep_daily=2, keep_weekly=3)

    assert run["state_type"] == "COMPLETED", run["state"]
    new_backup = files.find_backup(result["path"])
    everything = [*(files.parse_backup_name(path) for path in seeded), new_backup]
    expired = {b.path.name for b in files.backups_to_prune(everything, keep_daily=2, keep_weekly=3)}
    assert sorted(result["pruned"]) == sorted(expired)
    assert {b.path.name for b in files.list_backups()} == {b.path.name for b in everything} - expired
    assert new_backup.path.name not in expired
    assert len(files.list_backups()) <= 2 + 3
    # The newest backup of today (the flow's own) and of yesterday are the daily ones; every week keeps one.
    days = {b.taken_at.date() for b in files.list_backups()}
    assert now.date() in days and (now - timedelta(days=1)).date() in days
    assert not [p for p in backup_dir.iterdir() if p.name.endswith(".sha256") and not p.with_suffix("").exists()]


def test_retention_keeps_the_newest_of_each_day_and_week():
    def at(day: int, hour: int) -> files.BackupFile:
        return files.BackupFile(files.new_backup_path(".dump", datetime(2026, 3, day, hour, tzinfo=UTC)),
                                datetime(2026, 3, day, hour, tzinfo=UTC))  # fmt: skip

    # 2026-03-02 is a Monday: days 2..8 are one ISO week, day 1 the week before.
    backups = [at(8, 10), at(8, 9), at(7, 10), at(3, 10), at(1, 10), at(1, 9)]
    pruned = files.backups_to_prune(backups, keep_daily=2, keep_weekly=2)
    assert {b.taken_at for b in pruned} == {at(8, 9).taken_at, at(3, 10).taken_at, at(1, 9).taken_at}


def test_restore_reports_the_tables_that_differ_from_live(run_flow):
    FlowRunFactory.create_batch(2)
    backup, _ = run_flow(backup_operations)
    FlowRunFactory.create_batch(3)

    result, run = run_flow(data_recovery, backup_name=files.find_backup(backup["path"]).path.name)

    assert run["state_type"] == "COMPLETED", run["state"]
    assert result["differences"]["workflows_flowrun"] == {"live": 5, "backup": 2}
    assert FlowRun.objects.count() == 5  # the live database is untouched


def test_restore_over_live_is_refused_without_confirm(run_flow):
    run_flow(backup_operations)

    result, run = run_flow(data_recovery, backup_name="latest", target="live")

    assert run["state_type"] == "FAILED"
    assert isinstance(result, RestoreRefused)
    assert "confirm=True" in run["state"]["message"]


def test_a_backup_whose_file_changed_is_not_restored(run_flow):
    backup, _ = run_flow(backup_operations)
    with open(backup["path"], "ab") as file:
        file.write(b"corruption")

    result, run = run_flow(data_recovery, backup_name="latest")

    assert run["state_type"] == "FAILED"
    assert "checksum" in str(result)


def test_restore_over_live_with_confirm_brings_back_the_backups_rows(run_flow):
    FlowRunFactory.create_batch(2)
    run_flow(backup_operations)
    FlowRunFactory.create_batch(3)

    result, run = run_flow(data_recovery, backup_name="latest", target="live", confirm=True)

    assert run["state_type"] == "COMPLETED", run["state"]
    assert result["differences"]["workflows_flowrun"] == {"live": 5, "backup": 2}
    assert FlowRun.objects.count() == 2
