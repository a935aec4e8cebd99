"""Bulk mutations above `BULK_SYNC_MAX_ITEMS` answer a background `BulkOperation` at once; its progress and
per-item results are read with `bulkOperation(id)` and in the admin. Against the real Prefect server."""

from __future__ import annotations

import pytest
from django.urls import reverse

from controlplane.audit.models import AuditEvent
from tests.graphql_client import graphql_data, graphql_errors
from workflows import tasks
from workflows.models import BulkOperation

pytestmark = [pytest.mark.prefect, pytest.mark.django_db]

BULK_CANCEL = """mutation Cancel($ids: [ID!]!) { bulkCancel(ids: $ids) {
  __typename
  ... on BulkOperation { id status total done }
  ... on BulkResult { items { target ok error } }
} }"""
JOB = """query Job($id: ID!) { bulkOperation(id: $id) {
  kind status total done succeeded failed startedAt finishedAt
  items { target ok error flowRun { prefectId stateType } }
} }"""


@pytest.fixture(autouse=True)
def small_synchronous_limit(settings) -> None:
    settings.BULK_SYNC_MAX_ITEMS = 3


def test_bulk_cancel_above_the_limit_answers_a_job_then_its_results(
    idle_deployment, operator_client, monkeypatch, django_capture_on_commit_callbacks
):
    runs = [idle_deployment.run("RUNNING") for _ in range(3)] + [idle_deployment.run("COMPLETED")]
    ids = [str(run.prefect_id) for run in runs] + ["00000000-0000-0000-0000-000000000000"]
    queued: list[int] = []
    monkeypatch.setattr(tasks.run_bulk_operation, "delay", queued.append)

    with django_capture_on_commit_callbacks(execute=True):
        job = graphql_data(operator_client, BULK_CANCEL, {"ids": ids})["bulkCancel"]

    assert (job["__typename"], job["status"], job["total"], job["done"]) == ("BulkOperation", "queued", 5, 0)
    assert queued == [int(job["id"])]
    tasks.run_bulk_operation(queued[0])

    done = graphql_data(operator_client, JOB, {"id": job["id"]})["bulkOperation"]
    assert (done["kind"], done["status"], done["done"], done["succeeded"], done["failed"]) == (
        "cancel", "finished", 5, 3, 2
    )  # fmt: skip
    assert [item["target"] for item in done["items"]] == ids
    assert [item["ok"] for item in done["items"]] == [True, True, True, False, False]
    assert all(item["flowRun"]["stateType"] == "CANCELLING" for item in done["items"][:3])
    assert "already finished" in done["items"][3]["error"] and "No flow run" in done["items"][4]["error"]
    assert AuditEvent.objects.filter(action="flow_run.cancel").count() == 4  # one per run that exists

    page = operator_client.get(reverse("admin:workflows_bulkoperation_change", args=[job["id"]]))
    assert page.status_code == 200
    assert ids[0] in page.content.decode() and "already finished" in page.content.decode()
    listing = operator_client.get(reverse("admin:workflows_bulkoperation_changelist"))
    assert "5 / 5" in listing.content.decode()


def test_bulk_cancel_within_the_limit_still_answers_its_results_at_once(idle_deployment, operator_client):
    runs = [idle_deployment.run("RUNNING") for _ in range(2)]
    result = graphql_data(operator_client, BULK_CANCEL, {"ids": [str(run.prefect_id) for run in runs]})["bulkCancel"]
    assert result["__typename"] == "BulkResult"
    assert [item["ok"] for item in result["items"]] == [True, True]
    assert not BulkOperation.objects.exists()


def test_a_viewer_cannot_read_bulk_operations(viewer_client, operator_client):
    errors = graphql_errors(viewer_client, JOB, {"id": "1"})
    assert errors and "permission" in errors[0].lower()
    assert viewer_client.get(reverse("admin:workflows_bulkoperation_changelist")).status_code == 403
