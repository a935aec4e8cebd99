"""PostgreSQL connections: `timestamptz` values parsed by psycopg's C loader instead of Django's Python one.

Django registers its own `timestamptz` loader on every connection, a Python subclass of psycopg's pure-Python
loader, so each timestamp is parsed by a regular expression in Python: ~2.5 µs each, 0.75 ms for a 100-run page
with three times per run. On a connection whose session time zone is UTC — Django's setting when `USE_TZ` is on
and the database has no `TIME_ZONE` of its own — psycopg's C loader returns exactly the same values (aware
datetimes in `datetime.timezone.utc`), so it is registered instead. Any other time zone keeps Django's loader.

What it buys: 600 values 1.98 → 0.51 ms (part of the GraphQL page's 0.60x → 0.47x of Prefect, bench/RESULTS.md).
What it depends on: psycopg's adapters map and C loaders, and Django's per-cursor loader re-registration
(`create_cursor` compares the loader's `timezone`) — Django and psycopg pinned in requirements/constraints.txt;
tests/controlplane/db/test_timestamps.py checks a real cursor's loader.
How to turn it off: `PG_FAST_TIMESTAMPTZ_LOADER=false` (Django's loader).
"""

from __future__ import annotations

import datetime
import functools
from typing import Any

from django.conf import settings
from django.db.backends.signals import connection_created

UTC_SESSION = "UTC"


def connect() -> None:
    connection_created.connect(_use_fast_timestamptz_loader, dispatch_uid="controlplane-fast-timestamptz-loader")


@functools.cache
def fast_timestamptz_loader() -> type | None:
    """A loader class wrapping psycopg's C `timestamptz` loader; None when psycopg runs without its C part."""
    import psycopg
    from psycopg.adapt import Loader
    from psycopg.pq import Format

    if psycopg.pq.__impl__ not in ("c", "binary"):
        return None
    c_loader = psycopg.postgres.adapters.get_loader(psycopg.postgres.types["timestamptz"].oid, Format.TEXT)

    class UtcTimestamptzLoader(Loader):
        # Django's `create_cursor` compares this with the connection's time zone and re-registers its own loader
        # on each cursor when they differ. (The C loader class itself cannot be subclassed.)
        timezone = datetime.UTC

        def __init__(self, oid: int, context: Any = None) -> None:
            super().__init__(oid, context)
            self._load = c_loader(oid, context).load

        def load(self, data: Any) -> datetime.datetime:
            return self._load(data)

    return UtcTimestamptzLoader


def _use_fast_timestamptz_loader(sender: Any, connection: Any, **_: Any) -> None:
    if not settings.PG_FAST_TIMESTAMPTZ_LOADER:
        return
    if connection.vendor != "postgresql" or connection.timezone is not datetime.UTC:
        return
    raw = connection.connection
    if raw.info.parameter_status("TimeZone") != UTC_SESSION:
        return
    loader = fast_timestamptz_loader()
    if loader is not None:
        raw.adapters.register_loader("timestamptz", loader)
