"""On PostgreSQL, timestamps are parsed by psycopg's C loader and come back exactly as Django's own loader returns
them; with `PG_FAST_TIMESTAMPTZ_LOADER=false` Django's loader is in force (controlplane/db/timestamps.py)."""

from __future__ import annotations

import datetime
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import pytest
from django.db import connection
from psycopg import postgres
from psycopg.adapt import AdaptersMap
from psycopg.pq import Format

from controlplane.db.timestamps import _use_fast_timestamptz_loader, fast_timestamptz_loader

pytestmark = pytest.mark.django_db

# Times a mirror row can hold: microseconds, the ends of the range, a leap second's neighbour, other offsets.
LITERALS = [
    "2026-11-27 16:40:01.123456+00",
    "2026-03-29 01:59:59.999999+01",
    "1999-12-31 23:59:59-08",
    "2000-02-29 12:00:00+05:30",
    "0001-01-01 00:00:00+00",
    "9999-12-31 23:59:59.999999+00",
    "2016-12-31 23:59:59.5+00",
]
QUERY = "SELECT " + ", ".join(f"'{literal}'::timestamptz" for literal in LITERALS)

requires_postgresql = pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL connections only")


def _read(register_djangos_loader: bool) -> tuple[datetime.datetime, ...]:
    from django.db.backends.postgresql.psycopg_any import register_tzloader

    with connection.cursor() as cursor:
        if register_djangos_loader:
            register_tzloader(connection.timezone, cursor.cursor)
        cursor.execute(QUERY)
        return cursor.fetchone()


def _loader_of_a_django_cursor() -> type:
    """The `timestamptz` loader a query through Django's cursor would use: Django's `create_cursor` may register its
    own on the cursor, so this asks the cursor, not the connection."""
    with connection.cursor() as cursor:
        return cursor.cursor.adapters.get_loader(postgres.types["timestamptz"].oid, Format.TEXT)


@requires_postgresql
def test_a_django_cursor_parses_timestamps_with_the_c_loader():
    assert fast_timestamptz_loader() is not None, "psycopg's C part is installed (psycopg-binary)"
    assert _loader_of_a_django_cursor() is fast_timestamptz_loader()


@requires_postgresql
@pytest.mark.django_db(transaction=True)
def test_the_setting_off_leaves_djangos_loader_in_force(settings):
    from django.db.backends.postgresql.psycopg_any import BaseTzLoader

    settings.PG_FAST_TIMESTAMPTZ_LOADER = False
    connection.close()
    try:
        loader = _loader_of_a_django_cursor()
        assert loader is not fast_timestamptz_loader()
        assert issubclass(loader, BaseTzLoader)
    finally:
        connection.close()  # the next test connects with the fast loader again


@requires_postgresql
def test_timestamps_are_the_same_as_djangos_loader_returns():
    ours, djangos = _read(register_djangos_loader=False), _read(register_djangos_loader=True)
    assert ours == djangos
    assert all(value.tzinfo is datetime.UTC for value in ours)
    assert [value.isoformat() for value in ours] == [value.isoformat() for value in djangos]


def _connection_like(session_zone: str, django_zone: datetime.tzinfo) -> SimpleNamespace:
    info = SimpleNamespace(parameter_status=lambda name: session_zone)
    raw = SimpleNamespace(info=info, adapters=AdaptersMap(postgres.adapters))
    return SimpleNamespace(vendor="postgresql", timezone=django_zone, connection=raw)


@pytest.mark.parametrize(
    ("session_zone", "django_zone", "fast"),
    [
        ("UTC", datetime.UTC, True),
        ("Europe/Paris", datetime.UTC, False),  # the session was switched: C values would be in Paris time
        ("Europe/Paris", ZoneInfo("Europe/Paris"), False),  # a database TIME_ZONE: Django's loader handles it
    ],
)
def test_only_a_utc_session_gets_the_c_loader(session_zone, django_zone, fast):
    if fast_timestamptz_loader() is None:
        pytest.skip("psycopg runs without its C part here")
    like = _connection_like(session_zone, django_zone)
    _use_fast_timestamptz_loader(sender=None, connection=like)
    assert (like.connection.adapters.get_loader(1184, 0) is fast_timestamptz_loader()) is fast
