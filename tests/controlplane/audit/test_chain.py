"""The audit log is append-only and tamper-evident: altered or removed rows are found by `verify_audit_log`."""

from __future__ import annotations

import threading

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import DatabaseError, connection, connections, transaction

from controlplane.audit.actor import Actor
from controlplane.audit.chain import GENESIS_HASH, record_audit_event, verify_chain
from controlplane.audit.models import AuditEvent, AuditLogIsAppendOnly
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def _record(n: int, actor: Actor | None = None) -> list[AuditEvent]:
    actor = actor or Actor.system()
    return [
        record_audit_event(actor, "test.event", target_type="thing", target_id=i, after={"n": i, "x": 1.5})
        for i in range(n)
    ]


def test_events_form_a_chain_from_genesis():
    events = _record(3)
    assert events[0].prev_hash == GENESIS_HASH
    assert [e.prev_hash for e in events[1:]] == [e.hash for e in events[:-1]]
    result = verify_chain()
    assert result.ok, result.problem
    assert result.checked == 3
    assert result.head_hash == events[-1].hash


def test_actor_fields_are_recorded_for_a_user():
    user = UserFactory(role="operator")
    actor = Actor(user=user, ip_address="2001:0db8:0000::1", user_agent="pytest")
    (event,) = _record(1, actor)
    event = AuditEvent.objects.get(pk=event.pk)
    assert (event.actor_user, event.actor_label, event.ip_address) == (user, user.username, "2001:db8::1")
    assert verify_chain().ok


def test_orm_cannot_change_or_delete_an_event():
    (event,) = _record(1)
    event.action = "something.else"
    with pytest.raises(AuditLogIsAppendOnly):
        event.save()
    with pytest.raises(AuditLogIsAppendOnly):
        event.delete()
    with pytest.raises(AuditLogIsAppendOnly):
        AuditEvent.objects.filter(pk=event.pk).update(action="x")
    with pytest.raises(AuditLogIsAppendOnly):
        AuditEvent.objects.all().delete()
    assert AuditEvent.objects.get(pk=event.pk).action == "test.event"


def test_verify_command_prints_count_and_head_hash(capsys):
    events = _record(2)
    call_command("verify_audit_log")
    out = capsys.readouterr().out
    assert "2 events" in out
    assert events[-1].hash in out


@pytest.mark.skipif(connection.vendor != "sqlite", reason="PostgreSQL refuses the raw UPDATE itself (tested below)")
def test_raw_sql_alteration_is_named_by_verify_command():
    events = _record(4)
    with connection.cursor() as cursor:
        cursor.execute("UPDATE controlplane_auditevent SET action = 'forged' WHERE id = %s", [events[2].pk])
    with pytest.raises(CommandError) as excinfo:
        call_command("verify_audit_log")
    assert f"#{events[2].pk}" in str(excinfo.value)
    assert excinfo.value.returncode == 1


@pytest.mark.skipif(connection.vendor != "sqlite", reason="PostgreSQL refuses the raw DELETE itself (tested below)")
def test_raw_sql_removal_breaks_the_chain_at_the_next_event():
    events = _record(4)
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM controlplane_auditevent WHERE id = %s", [events[1].pk])
    result = verify_chain()
    assert result.first_bad_event_id == events[2].pk
    assert result.checked == 1


@pytest.mark.skipif(connection.vendor != "sqlite", reason="PostgreSQL refuses the raw UPDATE itself")
def test_recomputing_a_plain_sha256_does_not_hide_an_alteration():
    import hashlib

    events = _record(2)
    forged = hashlib.sha256(b"attacker without the HMAC key").hexdigest()
    with connection.cursor() as cursor:
        cursor.execute("UPDATE controlplane_auditevent SET hash = %s WHERE id = %s", [forged, events[1].pk])
    assert verify_chain().first_bad_event_id == events[1].pk


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the database trigger exists on PostgreSQL only")
@pytest.mark.parametrize(
    "statement", ["UPDATE controlplane_auditevent SET action = 'forged'", "DELETE FROM controlplane_auditevent"]
)
def test_postgresql_refuses_raw_update_and_delete(statement):
    _record(2)
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(statement)
    assert verify_chain().checked == 2


@pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="concurrent writers need PostgreSQL; SQLite's IMMEDIATE transactions serialise writers by design",
)
@pytest.mark.django_db(transaction=True)
def test_twenty_concurrent_writers_leave_one_unbroken_chain():
    writers, per_writer = 20, 5
    start = threading.Barrier(writers)
    failures: list[BaseException] = []

    def write(writer: int) -> None:
        try:
            start.wait()
            for i in range(per_writer):
                with transaction.atomic():
                    record_audit_event(
                        Actor.system(), "test.concurrent", target_type="writer", target_id=f"{writer}.{i}"
                    )
        except BaseException as exc:
            failures.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=write, args=(n,)) for n in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert not failures, failures
    result = verify_chain()
    assert result.ok, result.problem
    assert result.checked == writers * per_writer
    assert AuditEvent.objects.values("prev_hash").distinct().count() == writers * per_writer
