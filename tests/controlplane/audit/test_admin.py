"""The audit log in the admin: read-only for auditors and admins, filters, CSV/JSON export (itself audited),
refusals audited, chain verification."""

from __future__ import annotations

import csv
import io
import json

import pytest
from django.test import Client

from controlplane.audit.actor import Actor
from controlplane.audit.chain import record_audit_event
from controlplane.audit.models import AuditEvent
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db
LIST_URL = "/admin/controlplane/auditevent/"


def _client(role: str) -> Client:
    client = Client()
    client.force_login(UserFactory(role=role))
    return client


def _seed() -> None:
    system = Actor.system()
    record_audit_event(system, "flow_run.trigger", target_type="deployment", target_id="a", outcome="success")
    record_audit_event(system, "flow_run.cancel", target_type="flow_run", target_id="b", outcome="denied")
    record_audit_event(system, "flow_run.cancel", target_type="flow_run", target_id="=HYPERLINK(1)", outcome="error")


def _body(response) -> str:
    return b"".join(response.streaming_content).decode()


@pytest.mark.parametrize("role", ["auditor", "admin"])
def test_auditors_and_admins_read_but_cannot_change(role):
    _seed()
    client = _client(role)
    assert client.get(LIST_URL).status_code == 200
    event = AuditEvent.objects.first()
    page = client.get(f"{LIST_URL}{event.pk}/change/")
    assert page.status_code == 200
    assert b'name="_save"' not in page.content
    assert client.post(f"{LIST_URL}{event.pk}/change/", {"action": "x"}).status_code == 403
    assert client.post(f"{LIST_URL}{event.pk}/delete/").status_code == 403
    assert client.get(f"{LIST_URL}add/").status_code == 403


@pytest.mark.parametrize("role", ["viewer", "operator"])
def test_other_roles_cannot_see_or_export_and_the_export_attempt_is_audited(role):
    _seed()
    client = _client(role)
    assert client.get(LIST_URL).status_code == 403
    assert client.get(f"{LIST_URL}export/csv/").status_code == 403
    refused = AuditEvent.objects.filter(action="audit_log.export").get()
    assert refused.outcome == "denied"


def test_filters_and_search():
    _seed()
    client = _client("auditor")
    denied = client.get(LIST_URL, {"outcome__exact": "denied"})
    assert list(denied.context["cl"].result_list.values_list("target_id", flat=True)) == ["b"]
    searched = client.get(LIST_URL, {"q": "trigger"})
    assert [e.action for e in searched.context["cl"].result_list if e.action.startswith("flow_run")] == [
        "flow_run.trigger"
    ]


def test_csv_export_follows_the_filters_and_neutralises_formulas():
    _seed()
    response = _client("auditor").get(f"{LIST_URL}export/csv/", {"action__exact": "flow_run.cancel"})
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(_body(response))))
    assert [row["target_id"] for row in rows] == ["b", "'=HYPERLINK(1)"]
    assert {"hash", "prev_hash", "actor_label", "outcome"} <= set(rows[0])
    export = AuditEvent.objects.get(action="audit_log.export")
    assert export.after["events"] == 2 and export.outcome == "success"


def test_json_export_of_selected_events():
    _seed()
    ids = list(AuditEvent.objects.filter(target_type="flow_run").values_list("pk", flat=True))
    response = _client("admin").post(
        LIST_URL, {"action": "export_selected_json", "_selected_action": ids, "index": "0"}
    )
    records = json.loads(_body(response))
    assert sorted(record["id"] for record in records) == sorted(ids)
    assert all(record["hash"] for record in records)


def test_verify_view_reports_the_chain():
    _seed()
    response = _client("auditor").get(f"{LIST_URL}verify/", follow=True)
    text = response.content.decode()
    assert "Audit log OK" in text
    assert AuditEvent.objects.filter(action="audit_log.verify", outcome="success").exists()
