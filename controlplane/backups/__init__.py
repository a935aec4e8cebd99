"""Backups of the control plane's own database: written, verified by a restore into a scratch database, pruned by
retention, restored on request. Used by the catalogue's backup_operations and data_recovery flows.

- `files.py`: where backups live, their timestamped names, the sha256 checksum files, retention (N daily, M weekly).
- `databases.py`: the engine-specific part — SQLite's online backup API, PostgreSQL's `pg_dump -Fc` / `pg_restore`
  — and the row count of every table, of the live database and of a restored one.
"""
