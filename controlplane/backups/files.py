"""Backup files: `controlplane-<UTC timestamp>.<sqlite3|dump>` in BACKUP_DIR, each next to a `.sha256` file in
`sha256sum`'s format (`<hex digest>  <file name>`), so `sha256sum -c` checks it too."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from django.conf import settings

PREFIX = "controlplane-"
TIMESTAMP_FORMAT = "%Y%m%dT%H%M%S%fZ"
CHECKSUM_SUFFIX = ".sha256"
EXTENSIONS = (".sqlite3", ".dump")


@dataclass(frozen=True)
class BackupFile:
    path: Path
    taken_at: datetime

    @property
    def checksum_path(self) -> Path:
        return self.path.with_name(self.path.name + CHECKSUM_SUFFIX)


def backup_dir() -> Path:
    directory = Path(settings.BACKUP_DIR)
    directory.mkdir(parents=True, exist_ok=True)
    return directory


def new_backup_path(extension: str, now: datetime | None = None) -> Path:
    taken_at = (now or datetime.now(UTC)).astimezone(UTC)
    return backup_dir() / f"{PREFIX}{taken_at.strftime(TIMESTAMP_FORMAT)}{extension}"


def parse_backup_name(path: Path) -> BackupFile | None:
    """The backup a file name stands for; None for any other file (checksums, scratch files, strangers)."""
    if not path.name.startswith(PREFIX) or path.suffix not in EXTENSIONS:
        return None
    try:
        taken_at = datetime.strptime(path.stem.removeprefix(PREFIX), TIMESTAMP_FORMAT).replace(tzinfo=UTC)
    except ValueError:
        return None
    return BackupFile(path, taken_at)


def list_backups(directory: Path | None = None) -> list[BackupFile]:
    """Every backup in the directory, newest first."""
    found = (parse_backup_name(path) for path in (directory or backup_dir()).iterdir())
    return sorted((backup for backup in found if backup), key=lambda backup: backup.taken_at, reverse=True)


def find_backup(name: str) -> BackupFile:
    backup = parse_backup_name(backup_dir() / Path(name).name)
    if backup is None or not backup.path.exists():
        raise FileNotFoundError(f"no backup named {name!r} in {backup_dir()}")
    return backup


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as source:
        for chunk in iter(lambda: source.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def write_checksum(backup: BackupFile) -> str:
    digest = sha256_of(backup.path)
    backup.checksum_path.write_text(f"{digest}  {backup.path.name}\n")
    return digest


def checksum_matches(backup: BackupFile) -> bool:
    if not backup.checksum_path.exists():
        return False
    recorded = backup.checksum_path.read_text().split()[0]
    return recorded == sha256_of(backup.path)


def backups_to_prune(backups: list[BackupFile], keep_daily: int, keep_weekly: int) -> list[BackupFile]:
    """Retention: keep the newest backup of each of the `keep_daily` most recent days that have one, and the newest
    of each of the `keep_weekly` most recent ISO weeks that have one; everything else goes."""
    keep: set[Path] = set()
    days: list[object] = []
    weeks: list[object] = []
    for backup in sorted(backups, key=lambda b: b.taken_at, reverse=True):
        day, week = backup.taken_at.date(), backup.taken_at.isocalendar()[:2]
        if day not in days and len(days) < keep_daily:
            days.append(day)
            keep.add(backup.path)
        if week not in weeks and len(weeks) < keep_weekly:
            weeks.append(week)
            keep.add(backup.path)
    return [backup for backup in backups if backup.path not in keep]


def delete_backup(backup: BackupFile) -> None:
    backup.path.unlink(missing_ok=True)
    backup.checksum_path.unlink(missing_ok=True)
