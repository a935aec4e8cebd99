"""On PostgreSQL, timestamps are parsed by psycopg's C loader and come back exactly as Django's own loader returns
them; SQLite is untouched."""

from __future__ import annotations

import datetime
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import pytest
from django.db import connection
from psycopg import postgres
from psycopg.adapt import AdaptersMap

from controlplane.db import _use_fast_timestamptz_loader, fast_timestamptz_loader
from tests.factories import FlowRunFactory
from workflows.models import FlowRun

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


@requires_postgresql
def test_the_connection_uses_the_c_loader():
    connection.ensure_connection()
    registered = connection.connection.adapters.get_loader(1184, 0)
    assert registered is fast_timestamptz_loader()


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


@pytest.mark.skipif(connection.vendor == "postgresql", reason="SQLite connections only")
def test_sqlite_reads_timestamps_as_before():
    run = FlowRunFactory()
    assert FlowRun.objects.get(pk=run.pk).expected_start_time == run.expected_start_time
