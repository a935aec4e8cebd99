"""Bulk cancel / retry / trigger against the real Prefect server: one result and one audit event per item, and the
background-job path above `BULK_SYNC_MAX_ITEMS` with its progress and per-item results."""

from __future__ import annotations

import pytest
from django.db.models.signals import post_save

from controlplane.audit.actor import Actor
from controlplane.audit.chain import verify_chain
from controlplane.audit.models import AuditEvent
from tests.factories import UserFactory
from workflows import bulk, bulk_jobs, prefect_api, tasks
from workflows.models import BulkOperation, Deployment, FlowRun, StateType

pytestmark = [pytest.mark.prefect, pytest.mark.django_db]


def test_bulk_cancel_gives_each_run_its_result_and_its_own_audit_event(idle_deployment, operator):
    running, scheduled, finished = (
        idle_deployment.run("RUNNING"),
        idle_deployment.run("SCHEDULED"),
        idle_deployment.run("COMPLETED"),
    )

    results = bulk.bulk_cancel(operator, [running, scheduled, finished])

    assert [(r.target, r.ok) for r in results] == [(running, True), (scheduled, True), (finished, False)]
    assert "already finished" in results[2].error
    assert [r.flow_run.state_type for r in results[:2]] == [StateType.CANCELLING, StateType.CANCELLED]
    states = {run.prefect_id: FlowRun.objects.get(pk=run.pk).state_type for run in (running, scheduled)}
    assert states == {running.prefect_id: StateType.CANCELLING, scheduled.prefect_id: StateType.CANCELLED}
    assert verify_chain().ok  # the batch's events were appended to the chain together
    events = {e.target_id: e.outcome for e in AuditEvent.objects.filter(action="flow_run.cancel")}
    assert events == {str(running.prefect_id): "success", str(scheduled.prefect_id): "success",
                      str(finished.prefect_id): "denied"}  # fmt: skip


def test_bulk_cancel_by_a_viewer_is_refused_item_by_item_without_asking_prefect(idle_deployment, prefect_requests):
    runs = [idle_deployment.run("RUNNING"), idle_deployment.run("RUNNING")]
    prefect_requests.clear()
    results = bulk.bulk_cancel(Actor(user=UserFactory(role="viewer")), runs)
    assert [r.ok for r in results] == [False, False] and all("not allowed" in r.error for r in results)
    assert prefect_requests == []
    assert list(AuditEvent.objects.values_list("outcome", flat=True)) == ["denied", "denied"]


def test_bulk_retry_and_trigger_report_each_item(idle_deployment, operator):
    failed, running = idle_deployment.run("FAILED"), idle_deployment.run("RUNNING")
    retried = bulk.bulk_retry(operator, [failed, running])
    assert [r.ok for r in retried] == [True, False]
    assert retried[0].flow_run.state_name == "AwaitingRetry" and "only failed" in retried[1].error

    deployment = Deployment.objects.select_related("flow").get(prefect_id=idle_deployment.payload["id"])
    triggered = bulk.bulk_trigger(operator, [(deployment, {}, "key-1"), (deployment, {}, "key-1"), (deployment, {})])
    assert [r.ok for r in triggered] == [True, True, True]
    assert triggered[0].flow_run.prefect_id == triggered[1].flow_run.prefect_id  # one idempotency key, one run
    assert AuditEvent.objects.filter(action="flow_run.trigger", outcome="success").count() == 3


def test_a_large_bulk_cancel_is_a_job_with_progress_and_per_item_results(
    idle_deployment, operator, settings, monkeypatch, django_capture_on_commit_callbacks
):
    settings.BULK_SYNC_MAX_ITEMS = 3
    monkeypatch.setattr(bulk, "BATCH_SIZE", 2)
    runs = [idle_deployment.run("RUNNING") for _ in range(4)] + [idle_deployment.run("COMPLETED")]
    items = [bulk_jobs.run_item(str(run.prefect_id), run) for run in runs]
    items.append(bulk_jobs.run_item("missing", None, "No flow run with id missing."))
    queued: list[int] = []
    monkeypatch.setattr(tasks.run_bulk_operation, "delay", queued.append)

    with django_capture_on_commit_callbacks(execute=True):
        operation = bulk_jobs.submit_bulk_operation(operator, BulkOperation.Kind.CANCEL, items)

    assert queued == [operation.pk]  # handed to a worker, not run inline
    operation.refresh_from_db()
    assert (operation.status, operation.total, operation.done) == ("queued", 6, 0)
    assert not AuditEvent.objects.filter(action="flow_run.cancel").exists()

    progress = _progress_while(lambda: tasks.run_bulk_operation(operation.pk))

    operation.refresh_from_db()
    assert progress == [1, 3, 5, 6]  # the unresolved item first, then one save per batch of 2
    assert (operation.status, operation.done, operation.succeeded, operation.failed) == ("finished", 6, 4, 2)
    assert [result["ok"] for result in operation.results] == [True, True, True, True, False, False]
    assert "already finished" in operation.results[4]["error"]
    assert operation.results[0]["flow_run"] == str(runs[0].prefect_id)
    assert AuditEvent.objects.filter(action="flow_run.cancel").count() == 5
    assert prefect_api.read_flow_run(runs[3].prefect_id)["state_type"] == "CANCELLING"
    assert bulk_jobs.run_bulk_operation(operation.pk) is None  # a redelivered task does not run it twice


def _progress_while(work) -> list[int]:
    seen: list[int] = []

    def record(sender, instance, update_fields=None, **kwargs) -> None:
        if update_fields and "done" in update_fields:
            seen.append(instance.done)

    post_save.connect(record, sender=BulkOperation)
    try:
        work()
    finally:
        post_save.disconnect(record, sender=BulkOperation)
    return seen


def test_a_job_of_a_user_deactivated_meanwhile_is_refused_on_every_item(idle_deployment, prefect_requests):
    user = UserFactory(role="operator")
    run = idle_deployment.run("RUNNING")
    operation = bulk_jobs.submit_bulk_operation(
        Actor(user=user), BulkOperation.Kind.CANCEL, [bulk_jobs.run_item(str(run.prefect_id), run)]
    )
    user.is_active = False
    user.save()
    prefect_requests.clear()

    tasks.run_bulk_operation(operation.pk)

    operation.refresh_from_db()
    assert (operation.status, operation.failed) == ("finished", 1)
    assert "not allowed" in operation.results[0]["error"]
    assert prefect_requests == []
    assert prefect_api.read_flow_run(run.prefect_id)["state_type"] == "RUNNING"
