"""A bulk operation when Prefect dies in the middle of it (the real server, stopped and started again on its port):
every run gets its own result and audit event, nothing is done twice, and the mirror converges once Prefect is back
(docs/reliability.md, "Nothing lost")."""

from __future__ import annotations

from collections import Counter

import pytest

from controlplane.audit.chain import verify_chain
from controlplane.audit.models import AuditEvent
from workflows import bulk, prefect_api
from workflows.models import FlowRun, StateType
from workflows.sync import sync_flow_runs

pytestmark = [pytest.mark.prefect, pytest.mark.faults, pytest.mark.django_db]

RUNS = 50
BATCH = 10
DONE_BEFORE_THE_KILL = 2 * BATCH


def cancelling_states_in_prefect(run: FlowRun) -> int:
    return sum(state["type"] == "CANCELLING" for state in prefect_api.read_flow_run_states(run.prefect_id))


def test_prefect_killed_during_a_50_run_bulk_cancel(idle_deployment, operator, prefect_server, settings, monkeypatch):
    runs = [idle_deployment.run("RUNNING") for _ in range(RUNS)]
    monkeypatch.setattr(bulk, "BATCH_SIZE", BATCH)
    settings.PREFECT_CLIENT_MAX_RETRIES = 0  # the items after the kill fail at once instead of backing off

    def kill_prefect_after_two_batches(results: list[bulk.ItemResult]) -> None:
        if len(results) == DONE_BEFORE_THE_KILL:
            prefect_server.stop()

    try:
        results = bulk.bulk_cancel(operator, runs, on_batch=kill_prefect_after_two_batches)
    finally:
        if prefect_server.process is None:
            prefect_server.start()

    # Each run is named with its own outcome: done before the kill, refused as "Prefect is unavailable" after it.
    assert [result.target for result in results] == runs
    assert [result.ok for result in results] == [True] * DONE_BEFORE_THE_KILL + [False] * (RUNS - DONE_BEFORE_THE_KILL)
    assert all(result.error.startswith("Prefect is unavailable") for result in results[DONE_BEFORE_THE_KILL:])
    outcomes = Counter(AuditEvent.objects.filter(action="flow_run.cancel").values_list("outcome", flat=True))
    assert outcomes == {"success": DONE_BEFORE_THE_KILL, "error": RUNS - DONE_BEFORE_THE_KILL}
    assert verify_chain().ok

    # Prefect kept exactly what it had accepted before it died.
    found = prefect_api.read_flow_runs_by_id([run.prefect_id for run in runs])
    in_prefect = {run["id"]: run["state_type"] for run in found}
    assert [in_prefect[str(run.prefect_id)] for run in runs] == (
        ["CANCELLING"] * DONE_BEFORE_THE_KILL + ["RUNNING"] * (RUNS - DONE_BEFORE_THE_KILL)
    )

    # The operator repeats the bulk for the whole selection: the rest is cancelled, nothing is cancelled twice.
    again = bulk.bulk_cancel(operator, [FlowRun.objects.get(pk=run.pk) for run in runs])
    assert [result.ok for result in again[DONE_BEFORE_THE_KILL:]] == [True] * (RUNS - DONE_BEFORE_THE_KILL)
    assert all(cancelling_states_in_prefect(run) == 1 for run in runs)

    # The mirror converges on Prefect.
    sync_flow_runs()
    mirrored = dict(FlowRun.objects.filter(pk__in=[run.pk for run in runs]).values_list("prefect_id", "state_type"))
    assert set(mirrored.values()) == {StateType.CANCELLING}
    assert len(mirrored) == RUNS
