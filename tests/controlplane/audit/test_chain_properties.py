"""Properties of the audit chain: any sequence of appends verifies, and changing any single stored field of any
event is detected at exactly that event."""

from __future__ import annotations

import pytest
from django.db import connection
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.django import TestCase

from controlplane.audit.actor import Actor
from controlplane.audit.chain import compute_hash, record_audit_event, verify_chain
from controlplane.audit.models import AuditEvent

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(2**53), max_value=2**53) | st.text(max_size=12),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=6), children, max_size=3),
    max_leaves=8,
)
events = st.fixed_dictionaries(
    {
        "action": st.text(alphabet="abcdefghij._", min_size=1, max_size=20),
        "target_id": st.integers(min_value=0, max_value=10**6),
        "before": json_values,
        "after": json_values,
        "outcome": st.sampled_from(["success", "denied", "error"]),
        "message": st.text(max_size=40),
    }
)
# The stored fields whose change verification must detect, with a changed value for each.
TAMPERING = {
    "actor_label": "someone else",
    "action": "tampered.action",
    "target_id": "999999999",
    "outcome": "success",
    "message": "rewritten",
    "after": {"tampered": True},
    "before": {"tampered": True},
    "prev_hash": "f" * 64,
    "hash": "e" * 64,
}

hypothesis_settings = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.mark.skipif(connection.vendor == "postgresql", reason="PostgreSQL's trigger refuses the raw UPDATE itself")
class TestChainProperties(TestCase):
    @hypothesis_settings
    @given(appended=st.lists(events, min_size=1, max_size=8))
    def test_any_sequence_of_appends_verifies(self, appended):
        for event in appended:
            record_audit_event(Actor.system(), target_type="thing", **event)
        result = verify_chain()
        assert result.ok, result.problem
        assert result.checked == len(appended)

    @hypothesis_settings
    @given(appended=st.lists(events, min_size=1, max_size=6), data=st.data())
    def test_any_single_field_change_is_detected_at_that_event(self, appended, data):
        written = [record_audit_event(Actor.system(), target_type="thing", **event) for event in appended]
        victim = data.draw(st.sampled_from(written))
        field = data.draw(st.sampled_from(sorted(TAMPERING)))
        value = TAMPERING[field]
        if getattr(victim, field) == value:
            value = {"other": 1} if isinstance(value, dict) else f"{value}-2"
        # Raw SQL: the ORM refuses to change an audit event at all.
        column = AuditEvent._meta.get_field(field).column
        stored = AuditEvent._meta.get_field(field).get_db_prep_save(value, connection)
        with connection.cursor() as cursor:
            cursor.execute(f"UPDATE {AuditEvent._meta.db_table} SET {column} = %s WHERE id = %s", [stored, victim.pk])  # noqa: S608
        result = verify_chain()
        assert not result.ok
        assert result.first_bad_event_id == victim.pk
        assert compute_hash(AuditEvent.objects.get(pk=victim.pk)) != victim.hash or field == "hash"
