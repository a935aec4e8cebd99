"""Every foreign key of the run tables leads some index (so lookups, joins and cascades by it stay indexed), and no
index is a plain prefix of another one (each index is paid for on every row the sync upserts)."""

from __future__ import annotations

import pytest
from django.db import connection

from workflows.models import FlowRun, FlowRunStateChange

pytestmark = pytest.mark.django_db


def _index_columns(table: str) -> list[tuple[str, ...]]:
    with connection.cursor() as cursor:
        constraints = connection.introspection.get_constraints(cursor, table)
    return [tuple(c["columns"]) for c in constraints.values() if c["index"] or c["unique"] or c["primary_key"]]


@pytest.mark.parametrize("model", [FlowRun, FlowRunStateChange])
def test_every_foreign_key_leads_an_index(model):
    leading = {columns[0] for columns in _index_columns(model._meta.db_table)}
    foreign_keys = {field.column for field in model._meta.concrete_fields if field.is_relation}
    assert foreign_keys <= leading, f"foreign keys without an index: {foreign_keys - leading}"


@pytest.mark.parametrize("model", [FlowRun, FlowRunStateChange])
def test_no_single_column_index_duplicates_the_lead_of_a_composite(model):
    indexes = _index_columns(model._meta.db_table)
    composite_leads = {columns[0] for columns in indexes if len(columns) > 1}
    redundant = {columns[0] for columns in indexes if len(columns) == 1 and columns[0] in composite_leads}
    assert not redundant, f"single-column indexes covered by a composite one: {redundant}"


def _plan(queryset) -> str:
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL enable_seqscan = off")  # a tiny test table would be scanned whatever exists
    return queryset.explain()


def test_the_syncs_check_for_runs_waiting_for_a_parent_reads_only_its_partial_index():
    """Every sync batch asks whether any run waits for its parent; with a full index on `parent_id` this walked an
    entry per run (nearly all have no parent)."""
    from django.db import transaction

    from tests.factories import FlowRunFactory

    FlowRunFactory.create_batch(3)
    waiting = FlowRun.objects.filter(parent__isnull=True, parent_prefect_id__isnull=False).order_by()
    children = FlowRun.objects.filter(parent_id=1).order_by()
    with transaction.atomic():
        assert "flowrun_waiting_parent_idx" in _plan(waiting)
        assert "flowrun_parent_idx" in _plan(children)
