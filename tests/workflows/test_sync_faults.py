"""The sync when Prefect fails: unreachable, or killed in the middle of a sync and restarted (the real server)."""

from __future__ import annotations

import logging
import time
from uuid import uuid4

import pytest

from bench.seed import seed_flow_runs
from controlplane.devstack.processes import free_port
from tests.prefect_helpers import create_deployment_in_prefect, create_flow_run_in_prefect, flow_runs_in_prefect
from workflows import prefect_api
from workflows.models import FlowRun, SyncStatus
from workflows.sync import FLOW_RUNS_STREAM, sync_flow_runs
from workflows.tasks import sync_prefect_mirror

pytestmark = [pytest.mark.prefect, pytest.mark.faults, pytest.mark.django_db]


def mirror_matches_prefect(flow_id: str) -> None:
    in_prefect = {run["id"]: (run["state_type"], run["state_name"]) for run in flow_runs_in_prefect(flow_id)}
    mirrored = FlowRun.objects.filter(flow__prefect_id=flow_id, deleted_in_prefect=False)
    assert {str(run_id): (t, n) for run_id, t, n in mirrored.values_list("prefect_id", "state_type", "state_name")} == (
        in_prefect
    )
    assert FlowRun.objects.filter(flow__prefect_id=flow_id).count() == len(in_prefect)  # nothing doubled


def test_unreachable_prefect_fails_fast_keeps_the_cursor_and_the_next_tick_catches_up(prefect_server, settings, caplog):
    deployment = create_deployment_in_prefect(f"outage-{uuid4().hex[:8]}")
    create_flow_run_in_prefect(deployment, "before-outage")
    sync_flow_runs()
    cursor = SyncStatus.objects.get(stream=FLOW_RUNS_STREAM).cursor
    create_flow_run_in_prefect(deployment, "during-outage")

    settings.PREFECT_API_URL = f"http://127.0.0.1:{free_port()}/api"  # nothing listens there
    started = time.monotonic()
    with caplog.at_level(logging.ERROR, logger="workflows"):
        outcome = sync_prefect_mirror()
        with pytest.raises(prefect_api.PrefectUnavailable, match="unreachable"):
            sync_flow_runs()
    assert time.monotonic() - started < 30

    assert outcome["ok"] is False
    assert "Prefect sync failed" in caplog.text
    status = SyncStatus.objects.get(stream=FLOW_RUNS_STREAM)
    assert status.cursor == cursor
    assert "unreachable" in status.last_error
    assert status.last_error_at > status.last_success_at

    settings.PREFECT_API_URL = prefect_server.api_url
    assert sync_prefect_mirror()["ok"] is True
    assert SyncStatus.objects.get(stream=FLOW_RUNS_STREAM).cursor > cursor
    mirror_matches_prefect(deployment["flow_id"])


def test_prefect_killed_mid_sync_and_restarted_ends_with_mirror_equal_to_prefect(prefect_server, settings):
    name = f"killed-{uuid4().hex[:8]}"
    seeded = seed_flow_runs(
        prefect_server.api_url, 5, flow_name=name, deployment_name=name, auth_string=prefect_server.auth_string
    )
    sync_flow_runs()
    cursor = SyncStatus.objects.get(stream=FLOW_RUNS_STREAM).cursor
    seed_flow_runs(
        prefect_server.api_url, 60, flow_name=name, deployment_name=name, auth_string=prefect_server.auth_string
    )
    settings.PREFECT_PAGE_SIZE = 10  # many small pages, so there is a "middle" to kill Prefect in
    pages_seen: list[int] = []

    def kill_prefect_after_second_page(pages: int, written: int) -> None:
        pages_seen.append(pages)
        if pages == 2:
            prefect_server.stop()

    try:
        with pytest.raises(prefect_api.PrefectUnavailable):
            sync_flow_runs(on_page=kill_prefect_after_second_page)
    finally:
        if prefect_server.process is None:
            prefect_server.start()

    assert pages_seen == [1, 2]
    # The pages written before the kill stay written, the rest waits: how many of them were this flow's runs depends
    # on what else the suite left changing in Prefect meanwhile (its runs come first in the window), so no floor.
    partially = FlowRun.objects.filter(flow__prefect_id=seeded.flow_id).count()
    assert 5 <= partially < 65
    status = SyncStatus.objects.get(stream=FLOW_RUNS_STREAM)
    assert status.cursor == cursor
    assert status.last_error

    result = sync_flow_runs()

    assert not result.skipped and not result.full
    mirror_matches_prefect(seeded.flow_id)
    assert FlowRun.objects.filter(flow__prefect_id=seeded.flow_id).count() == 65
