"""Database upkeep after large deletes: refresh the planner's statistics (`ANALYZE`) and, on SQLite, give the freed
pages back to the file system (`VACUUM`; PostgreSQL's autovacuum makes deleted rows' space reusable on its own, and
only `VACUUM FULL`, which locks every table, would shrink its files)."""

from __future__ import annotations

from django.db import connection


def database_size_bytes() -> int:
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            cursor.execute("SELECT page_count * page_size FROM pragma_page_count(), pragma_page_size()")
        else:
            cursor.execute("SELECT pg_database_size(current_database())")
        return int(cursor.fetchone()[0])


def analyze_and_vacuum() -> list[str]:
    """Run the upkeep statements (outside any transaction); returns those run."""
    statements = ["ANALYZE", "VACUUM"] if connection.vendor == "sqlite" else ["ANALYZE"]
    with connection.cursor() as cursor:
        for statement in statements:
            cursor.execute(statement)
    return statements
