"""`workflows.sync` against the real Prefect test server: states, history, idempotence, deletions, references."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from io import StringIO
from uuid import UUID, uuid4

import pytest
from django.core.management import call_command

from tests.prefect_helpers import (
    create_deployment_in_prefect,
    create_flow_run_in_prefect,
    delete_flow_run_in_prefect,
    flow_runs_in_prefect,
    prefect_delete,
    prefect_post,
    set_state_in_prefect,
)
from workflows import prefect_api
from workflows.locks import exclusive
from workflows.models import Deployment, FlowRun, FlowRunStateChange
from workflows.sync import SYNC_LOCK, sync_flow_runs, sync_reference_data, upsert_flow_runs

pytestmark = [pytest.mark.prefect, pytest.mark.django_db]

LIFECYCLES = {
    "scheduled": [],
    "started": [("PENDING", "Pending"), ("RUNNING", "Running")],
    "completed": [("PENDING", "Pending"), ("RUNNING", "Running"), ("COMPLETED", "Completed")],
    "failed": [("PENDING", "Pending"), ("RUNNING", "Running"), ("FAILED", "Failed")],
    "cancelled": [("PENDING", "Pending"), ("RUNNING", "Running"), ("CANCELLING", "Cancelling"),
                  ("CANCELLED", "Cancelled")],
}  # fmt: skip


def future_scheduled_state() -> dict:
    """Scheduled a day ahead, so Prefect's late-runs service does not rename it "Late" while a test runs."""
    when = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    return {"type": "SCHEDULED", "name": "Scheduled", "state_details": {"scheduled_time": when}}


@pytest.fixture
def deployment(prefect_server) -> dict:
    return create_deployment_in_prefect(f"sync-{uuid4().hex[:10]}")


def mirror_of(flow_id: str) -> dict[str, tuple]:
    rows = FlowRun.objects.filter(flow__prefect_id=flow_id).values_list(
        "prefect_id", "state_type", "state_name", "end_time", "deleted_in_prefect"
    )
    return {str(row[0]): row[1:] for row in rows}


def prefect_view_of(flow_id: str) -> dict[str, tuple]:
    return {
        run["id"]: (run["state_type"], run["state_name"], prefect_api_time(run["end_time"]), False)
        for run in flow_runs_in_prefect(flow_id)
    }


def prefect_api_time(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def history_of(run_id: str) -> list[tuple[str, str]]:
    return list(
        FlowRunStateChange.objects.filter(flow_run__prefect_id=run_id)
        .order_by("at", "id")
        .values_list("from_state_type", "to_state_type")
    )


def test_runs_created_started_completed_failed_and_cancelled_appear_with_state_and_history(deployment):
    runs = {label: create_flow_run_in_prefect(deployment, f"{label}-{uuid4().hex[:6]}") for label in LIFECYCLES}
    runs["scheduled"] = create_flow_run_in_prefect(deployment, "scheduled-later", state=future_scheduled_state())
    sync_flow_runs()
    for label, transitions in LIFECYCLES.items():
        for state_type, name in transitions:
            set_state_in_prefect(runs[label]["id"], state_type, name)

    result = sync_flow_runs()

    assert not result.full
    assert mirror_of(deployment["flow_id"]) == prefect_view_of(deployment["flow_id"])
    for label, transitions in LIFECYCLES.items():
        states = ["SCHEDULED", *(state_type for state_type, _ in transitions)]
        expected_history = list(zip(["", *states[:-1]], states, strict=True))
        assert history_of(runs[label]["id"]) == expected_history, label
    run = FlowRun.objects.select_related("deployment", "work_pool").get(prefect_id=runs["completed"]["id"])
    assert run.deployment.prefect_id == UUID(deployment["id"])
    assert run.work_pool.name == "test-pool"
    assert run.start_time is not None and run.end_time is not None


def test_running_the_sync_twice_changes_nothing(deployment):
    done = create_flow_run_in_prefect(deployment, "done")
    for state_type, name in LIFECYCLES["completed"]:
        set_state_in_prefect(done["id"], state_type, name)
    create_flow_run_in_prefect(deployment, "waiting", state=future_scheduled_state())
    sync_flow_runs()
    fields = [f.name for f in FlowRun._meta.concrete_fields if f.name != "synced_at"]
    mine = FlowRun.objects.filter(flow__prefect_id=deployment["flow_id"]).order_by("pk")
    before = list(mine.values(*fields))
    # Only this test's runs: other tests' runs (served flows) may still be changing in the same Prefect.
    my_history = FlowRunStateChange.objects.filter(flow_run__flow__prefect_id=deployment["flow_id"]).order_by("pk")
    history_before = list(my_history.values())

    sync_flow_runs()
    sync_flow_runs(full=True)

    assert list(mine.values(*fields)) == before
    assert list(my_history.values()) == history_before
    assert len(before) == 2


def test_upsert_costs_the_same_few_queries_for_ten_or_a_hundred_runs(deployment, django_assert_max_num_queries):
    for index in range(100):
        create_flow_run_in_prefect(deployment, f"bulk-{index}", state={"type": "COMPLETED", "name": "Completed"})
    payloads = flow_runs_in_prefect(deployment["flow_id"])
    assert len(payloads) == 100
    upsert_flow_runs(payloads[:1])  # mirrors the flow, deployment and pool first, so both batches below are alike

    with django_assert_max_num_queries(14) as ten:
        upsert_flow_runs(payloads[1:11])
    with django_assert_max_num_queries(14) as hundred:
        upsert_flow_runs(payloads[11:])

    # SQLite splits a 100-row insert by its bound-parameter limit; the count still does not grow per row.
    assert len(hundred.captured_queries) - len(ten.captured_queries) <= 4
    assert FlowRun.objects.filter(flow__prefect_id=deployment["flow_id"]).count() == 100
    assert FlowRunStateChange.objects.filter(flow_run__flow__prefect_id=deployment["flow_id"]).count() == 100


def test_a_stale_payload_never_overwrites_a_newer_state(deployment):
    run = create_flow_run_in_prefect(deployment, "racing")
    stale = prefect_api.read_flow_run(run["id"])
    set_state_in_prefect(run["id"], "PENDING", "Pending")
    set_state_in_prefect(run["id"], "RUNNING", "Running")
    fresh = prefect_api.read_flow_run(run["id"])

    upsert_flow_runs([fresh])
    (row,) = upsert_flow_runs([stale])
    upsert_flow_runs([stale], force=True)  # as a full reconcile does

    assert row.state_type == "RUNNING"
    assert FlowRun.objects.get(prefect_id=run["id"]).state_type == "RUNNING"


def test_unknown_fields_and_state_types_from_a_newer_prefect_are_stored(deployment):
    payload = prefect_api.read_flow_run(create_flow_run_in_prefect(deployment, "from-the-future")["id"])
    payload["brand_new_field"] = {"added_in": "prefect 4"}
    payload["state_type"] = payload["state"]["type"] = "SUSPENDED"

    (row,) = upsert_flow_runs([payload])

    row.refresh_from_db()
    assert row.extra == {"brand_new_field": {"added_in": "prefect 4"}}
    assert row.state_type == "SUSPENDED"
    assert row.state_changes.get().to_state_type == "SUSPENDED"


TRICKY_TEXTS = ["quote \" and ' apostrophe", "back\\slash \\N", "{braces},commas", "NULL", "ünïcødé ✓", "new\nline", ""]


def test_text_that_needs_escaping_is_written_exactly_by_the_bulk_path(deployment):
    """The bulk upsert sends its column arrays in binary; what a client typed comes back byte for byte."""
    base = prefect_api.read_flow_run(create_flow_run_in_prefect(deployment, "escaping")["id"])
    payloads = [
        {
            **base,
            "id": str(uuid4()),
            "name": text or "blank",
            "tags": [text, "NULL", "a,b"],
            "parameters": {"text": text, "list": [text, None, 1.5]},
            "idempotency_key": text or None,
            "work_queue_name": text,
            "state": {**base["state"], "id": state_id, "message": text},
            "state_id": state_id,
        }
        for text, state_id in zip(TRICKY_TEXTS, (str(uuid4()) for _ in TRICKY_TEXTS), strict=True)
    ]
    upsert_flow_runs(payloads)

    for payload, text in zip(payloads, TRICKY_TEXTS, strict=True):
        row = FlowRun.objects.get(prefect_id=payload["id"])
        assert (row.name, row.tags, row.parameters) == (payload["name"], payload["tags"], payload["parameters"])
        assert (row.idempotency_key, row.work_queue_name, row.state_message) == (text, text, text)
        assert row.state_changes.get().message == text


def test_a_subflow_run_points_at_its_parent_run(deployment):
    parent = create_flow_run_in_prefect(deployment, "parent")
    task = prefect_post(
        "/task_runs/", {"flow_run_id": parent["id"], "task_key": "child", "dynamic_key": "0", "name": "child-task"}
    )
    child = create_flow_run_in_prefect(deployment, "child", parent_task_run_id=task["id"])

    sync_flow_runs()

    assert FlowRun.objects.get(prefect_id=child["id"]).parent.prefect_id == UUID(parent["id"])


def test_runs_deleted_in_prefect_are_marked_never_removed(deployment):
    waiting = create_flow_run_in_prefect(deployment, "waiting", state=future_scheduled_state())
    finished = create_flow_run_in_prefect(deployment, "finished", state={"type": "COMPLETED", "name": "Completed"})
    sync_flow_runs()
    delete_flow_run_in_prefect(waiting["id"])
    delete_flow_run_in_prefect(finished["id"])

    sync_flow_runs()  # incremental: the unfinished run is re-read by id and found missing
    assert FlowRun.objects.get(prefect_id=waiting["id"]).deleted_in_prefect
    assert not FlowRun.objects.get(prefect_id=finished["id"]).deleted_in_prefect

    result = sync_flow_runs(full=True)  # a full reconcile finds the finished one too
    assert result.marked_deleted >= 1
    assert FlowRun.objects.get(prefect_id=finished["id"]).deleted_in_prefect
    assert FlowRun.objects.filter(prefect_id__in=[waiting["id"], finished["id"]]).count() == 2


@pytest.mark.faults
def test_a_sync_started_while_another_holds_the_lock_is_skipped(deployment):
    create_flow_run_in_prefect(deployment, "locked-out")
    held, release = threading.Event(), threading.Event()

    def hold_lock() -> None:
        from django.db import connection

        try:
            with exclusive(SYNC_LOCK):
                held.set()
                release.wait(30)
        finally:
            connection.close()

    holder = threading.Thread(target=hold_lock)
    holder.start()
    try:
        assert held.wait(10)
        assert sync_flow_runs().skipped
        assert not FlowRun.objects.exists()
    finally:
        release.set()
        holder.join()
    assert not sync_flow_runs().skipped
    assert FlowRun.objects.filter(flow__prefect_id=deployment["flow_id"]).count() == 1


def test_reference_data_mirrors_deployments_with_schedules_schema_and_pool(prefect_server):
    name = f"ref-{uuid4().hex[:8]}"
    schema = {"type": "object", "properties": {"rows": {"type": "integer", "default": 10}}}
    created = create_deployment_in_prefect(
        name,
        work_pool="ref-pool",
        schedules=[{"schedule": {"interval": 3600}, "active": True}],
        parameter_openapi_schema=schema,
        parameters={"rows": 5},
        tags=["nightly"],
        concurrency_limit=3,
    )

    assert sync_reference_data() >= 3
    deployment = Deployment.objects.select_related("flow", "work_pool").get(prefect_id=created["id"])
    assert (deployment.name, deployment.flow.name, deployment.work_pool.name) == (name, name, "ref-pool")
    assert deployment.schedules_summary == "every 3600s"
    assert deployment.parameter_openapi_schema == schema
    assert deployment.default_parameters == {"rows": 5}
    assert deployment.tags == ["nightly"]
    assert deployment.concurrency_limit == 3

    prefect_delete(f"/deployments/{created['id']}")
    sync_reference_data()
    deployment.refresh_from_db()
    assert deployment.deleted_in_prefect


def test_sync_prefect_command_reports_a_full_sync(deployment):
    create_flow_run_in_prefect(deployment, "via-command")
    out = StringIO()

    call_command("sync_prefect", "--full", stdout=out)

    assert "full sync:" in out.getvalue()
    assert FlowRun.objects.filter(flow__prefect_id=deployment["flow_id"]).count() == 1
