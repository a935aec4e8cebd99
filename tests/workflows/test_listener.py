"""The event listener against the real Prefect server: runs executed by the served flows reach the mirror within
seconds with their exact history, and the listener survives a Prefect restart."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import datetime
from uuid import uuid4

import pytest
from django.db import OperationalError, connection
from django.utils import timezone

from flows.serve import HEALTH_CHECK_DEPLOYMENT
from tests.prefect_helpers import (
    create_deployment_in_prefect,
    create_flow_run_in_prefect,
    deployment_id,
    set_state_in_prefect,
    wait_until_final,
)
from workflows import listener, prefect_api
from workflows.models import FlowRun, FlowRunStateChange, SyncStatus

pytestmark = [pytest.mark.prefect, pytest.mark.django_db(transaction=True)]


class RunningListener:
    def __init__(self) -> None:
        self.stop = threading.Event()
        self.connections = 0
        self.connected = threading.Event()
        self.thread = threading.Thread(target=self._run, name="listener-under-test")

    def _on_connected(self) -> None:
        self.connections += 1
        self.connected.set()

    def _run(self) -> None:
        try:
            listener.listen(should_stop=self.stop.is_set, on_connected=self._on_connected, idle_timeout=0.2)
        finally:
            connection.close()


@pytest.fixture
def running_listener(prefect_server) -> Iterator[RunningListener]:
    running = RunningListener()
    running.thread.start()
    assert running.connected.wait(30), "listener did not connect"
    yield running
    running.stop.set()
    running.thread.join(30)
    assert not running.thread.is_alive()


def wait_for_mirror_state(run_id: str, state_type: str, timeout: float = 20) -> datetime:
    """Poll the mirror; returns when the run showed `state_type` there."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if FlowRun.objects.filter(prefect_id=run_id, state_type=state_type).exists():
                return timezone.now()
        except OperationalError:
            pass  # the in-memory test database locks whole tables while the listener's thread writes
        time.sleep(0.05)
    raise AssertionError(f"run {run_id} not {state_type} in the mirror within {timeout}s")


def test_a_served_run_reaches_the_mirror_completed_within_seconds_with_its_history(served_flows, running_listener):
    created = prefect_api.create_flow_run_from_deployment(deployment_id(HEALTH_CHECK_DEPLOYMENT), {})

    seen_at = wait_for_mirror_state(created["id"], "COMPLETED", timeout=90)

    final = wait_until_final(created["id"])
    completed_at = datetime.fromisoformat(final["state"]["timestamp"])
    assert (seen_at - completed_at).total_seconds() < 5
    history = list(
        FlowRunStateChange.objects.filter(flow_run__prefect_id=created["id"])
        .order_by("at")
        .values_list("from_state_type", "to_state_type")
    )
    in_prefect = [
        s["type"] for s in sorted(prefect_api.read_flow_run_states(created["id"]), key=lambda s: s["timestamp"])
    ]
    assert [to for _, to in history] == in_prefect
    assert [frm for frm, _ in history] == ["", *in_prefect[:-1]]
    assert in_prefect[0] == "SCHEDULED" and "RUNNING" in in_prefect and in_prefect[-1] == "COMPLETED"
    assert SyncStatus.objects.get(stream=listener.EVENTS_STREAM).last_success_at is not None


@pytest.mark.faults
def test_the_listener_reconnects_after_prefect_restarts(prefect_server, running_listener, monkeypatch):
    monkeypatch.setattr(listener, "BACKOFF_MAX_SECONDS", 2.0)
    deployment = create_deployment_in_prefect(f"listen-{uuid4().hex[:8]}")
    before = create_flow_run_in_prefect(deployment, "before-restart")
    wait_for_mirror_state(before["id"], "SCHEDULED")

    prefect_server.stop()
    try:
        time.sleep(3)  # long enough for the stream to notice and start backing off
    finally:
        prefect_server.start()
    # These changes usually happen before the listener is back (it is still backing off): its catch-up sync on
    # reconnect must bring them in, not the next beat tick.
    after = create_flow_run_in_prefect(deployment, "after-restart")
    set_state_in_prefect(after["id"], "PENDING", "Pending")
    set_state_in_prefect(after["id"], "RUNNING", "Running")

    wait_for_mirror_state(after["id"], "RUNNING", timeout=30)
    assert running_listener.connections >= 2
    assert SyncStatus.objects.get(stream=listener.EVENTS_STREAM).last_error


def test_a_run_read_behind_its_event_is_read_again(prefect_server):
    """Prefect can announce a state a moment before a read by id shows it; the listener must not keep the old state."""
    deployment = create_deployment_in_prefect(f"lag-{uuid4().hex[:8]}")
    run = create_flow_run_in_prefect(deployment, "read-behind")
    set_state_in_prefect(run["id"], "PENDING", "Pending")
    set_state_in_prefect(run["id"], "RUNNING", "Running")
    announced_at = timezone.now()
    event = {
        "id": str(uuid4()), "event": "prefect.flow-run.Completed", "occurred": announced_at.isoformat(),
        "flow_run_id": run["id"], "type": "COMPLETED", "name": "Completed", "timestamp": announced_at.isoformat(),
        "message": "", "from_type": "RUNNING", "from_name": "Running",
    }  # fmt: skip
    # The event is handled while Prefect still answers RUNNING; the state it announced lands a moment later.
    completing = threading.Timer(1.0, set_state_in_prefect, (run["id"], "COMPLETED", "Completed"))
    completing.start()
    try:
        listener.apply_flow_run_events([event])
    finally:
        completing.join()

    assert FlowRun.objects.get(prefect_id=run["id"]).state_type == "COMPLETED"


def test_a_deployment_paused_in_prefect_reaches_the_mirror_and_triggers_are_refused(running_listener):
    """A trigger checks the mirror's `paused` (one Prefect call instead of two): the listener keeps it current."""
    from controlplane.audit.actor import Actor
    from controlplane.exceptions import OperationNotAllowed
    from tests.factories import UserFactory
    from workflows import services
    from workflows.models import Deployment

    created = create_deployment_in_prefect(f"pause-{uuid4().hex[:8]}", work_pool="idle-pool")
    wait_for_mirror(lambda: Deployment.objects.filter(prefect_id=created["id"], paused=False).exists(), "mirrored")
    prefect_api.set_deployment_paused(created["id"], True)
    wait_for_mirror(lambda: Deployment.objects.filter(prefect_id=created["id"], paused=True).exists(), "paused")

    deployment = Deployment.objects.select_related("flow", "work_pool").get(prefect_id=created["id"])
    with pytest.raises(OperationNotAllowed, match="paused"):
        services.trigger_deployment(Actor(user=UserFactory(role="operator")), deployment, {})
    runs = prefect_api.count_flow_runs({"deployment_id": {"any_": [created["id"]]}})
    assert runs == 0

    prefect_api.set_deployment_paused(created["id"], False)
    wait_for_mirror(lambda: Deployment.objects.filter(prefect_id=created["id"], paused=False).exists(), "resumed")


def wait_for_mirror(condition, wanted: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if condition():
                return
        except OperationalError:
            pass  # the in-memory test database locks whole tables while the listener's thread writes
        time.sleep(0.05)
    raise AssertionError(f"the deployment was not {wanted} in the mirror within {timeout}s")
