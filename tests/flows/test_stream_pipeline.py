"""The stream pipeline against the local Redis (db 12) and the real Prefect test server: entries consumed, stored
once and acknowledged; a killed consumer's pending entries reclaimed; transient failures retried with growing
delays; the full analysis in strict order; no Redis → skipped."""

from __future__ import annotations

import itertools
import subprocess
import sys
import time
from datetime import datetime

import pytest
from django.core.management import call_command
from django.utils import timezone

from flows.alerting import FLOW_FAILED_RULE
from flows.stream_pipeline import stream_full_analysis, stream_incremental
from monitoring.models import Alert
from pipelines import services, stream
from pipelines.models import StreamMetric, StreamRecord
from workflows import prefect_api

pytestmark = [pytest.mark.prefect, pytest.mark.django_db]


def test_incremental_flow_stores_and_acknowledges_every_new_entry(in_process_prefect, redis_stream, settings):
    call_command("feed_demo_stream", count=25, seed=1)

    state = stream_incremental(batch_size=10, return_state=True)

    assert state.is_completed(), state
    totals = state.result()
    assert (totals["read"], totals["stored"], totals["acknowledged"]) == (25, 25, 25)
    assert StreamRecord.objects.filter(stream=settings.STREAM_NAME).count() == 25
    assert redis_stream.xpending(settings.STREAM_NAME, settings.STREAM_CONSUMER_GROUP)["pending"] == 0
    # The run's consumer acknowledged everything it read, so it left the group (one per run would pile up).
    assert redis_stream.xinfo_consumers(settings.STREAM_NAME, settings.STREAM_CONSUMER_GROUP) == []


def test_entries_a_killed_consumer_left_pending_are_reclaimed_stored_and_acknowledged(
    in_process_prefect, redis_stream, settings
):
    call_command("feed_demo_stream", count=10, seed=2)
    stream.ensure_group(redis_stream, settings.STREAM_NAME, settings.STREAM_CONSUMER_GROUP)
    doomed = _consumer_that_reads_and_hangs(settings, count=7)
    doomed.kill()  # SIGKILL: it never acknowledges what it read
    doomed.wait(timeout=30)
    group = (settings.STREAM_NAME, settings.STREAM_CONSUMER_GROUP)
    assert redis_stream.xpending(*group)["consumers"] == [{"name": "doomed", "pending": 7}]
    _wait_until(lambda: _idle_ms(redis_stream, *group) >= 300, "the dead consumer's entries to be idle for 300 ms")

    state = stream_incremental(reclaim_idle_seconds=0.3, consumer="survivor", return_state=True)

    assert state.is_completed(), state
    totals = state.result()
    assert (totals["reclaimed"], totals["read"], totals["stored"], totals["acknowledged"]) == (7, 3, 10, 10)
    assert StreamRecord.objects.filter(stream=settings.STREAM_NAME).count() == 10
    assert redis_stream.xpending(*group)["pending"] == 0
    assert totals["consumers_forgotten"] == 2  # the dead consumer, emptied by the reclaim, and the survivor
    assert redis_stream.xinfo_consumers(*group) == []


def test_an_entry_delivered_again_after_it_was_stored_is_stored_once(in_process_prefect, redis_stream, settings):
    call_command("feed_demo_stream", count=4, seed=3)
    stream.ensure_group(redis_stream, settings.STREAM_NAME, settings.STREAM_CONSUMER_GROUP)
    entries = stream.read_new(redis_stream, settings.STREAM_NAME, settings.STREAM_CONSUMER_GROUP, "crashed", 4)
    services.store_entries(settings.STREAM_NAME, entries)  # stored, then the consumer died before its XACK
    _wait_until(
        lambda: _idle_ms(redis_stream, settings.STREAM_NAME, settings.STREAM_CONSUMER_GROUP) >= 100, "idle entries"
    )

    totals = stream_incremental(reclaim_idle_seconds=0.1)

    assert (totals["reclaimed"], totals["stored"], totals["acknowledged"]) == (4, 0, 4)
    assert StreamRecord.objects.filter(stream=settings.STREAM_NAME).count() == 4


def test_a_transient_store_failure_is_retried_with_growing_delays(in_process_prefect, redis_stream, settings):
    call_command("feed_demo_stream", count=5, seed=4)

    state = stream_incremental(drill_transient_failures=2, return_state=True)

    assert state.is_completed(), state
    assert StreamRecord.objects.filter(stream=settings.STREAM_NAME).count() == 5
    store = _task_run(state.state_details.flow_run_id, "store_batch")
    assert store["run_count"] == 3
    delays = _retry_delays(store["id"])
    # Nominal 2 s then 4 s (exponential backoff), each drawn by Prefect's jitter from 0.75 to 1.3 times that.
    assert len(delays) == 2, delays
    assert 1.4 <= delays[0] <= 2.7 and 2.9 <= delays[1] <= 5.3, delays
    assert delays[1] > delays[0]


def test_a_run_that_fails_for_good_raises_a_critical_alert(in_process_prefect, redis_stream, settings):
    call_command("feed_demo_stream", count=3, seed=5)

    state = stream_incremental.with_options(retries=0)(drill_transient_failures=4, return_state=True)

    assert state.is_failed(), state
    alert = Alert.objects.get(rule=FLOW_FAILED_RULE, subject="flow:stream_incremental")
    assert (alert.severity, alert.status) == ("critical", "firing")
    assert "drill: store attempt 4" in alert.message
    group = (settings.STREAM_NAME, settings.STREAM_CONSUMER_GROUP)
    assert redis_stream.xpending(*group)["pending"] == 3  # never acknowledged
    # The failed run's consumer keeps its pending entries for the next run to reclaim.
    assert [c["pending"] for c in redis_stream.xinfo_consumers(*group)] == [3]


def test_full_analysis_runs_its_steps_in_order_stores_metrics_and_alerts_on_a_hot_source(
    in_process_prefect, redis_stream, settings
):
    call_command("feed_demo_stream", count=40, sources=3, seed=6)
    now = timezone.now().isoformat()
    for value in (120, 130, 125):
        stream.append(redis_stream, settings.STREAM_NAME, {"source": "boiler", "value": str(value), "produced_at": now})

    state = stream_full_analysis(p95_threshold=100.0, return_state=True)

    assert state.is_completed(), state
    summary = state.result()
    assert summary["refreshed"]["stored"] == 43 and summary["records"] == 43
    metrics = {m.source: m for m in StreamMetric.objects.filter(stream=settings.STREAM_NAME)}
    assert metrics["boiler"].count == 3 and metrics["boiler"].p95 == 130
    assert sum(m.count for m in metrics.values()) == 43
    assert summary["alerted"] == ["boiler"]
    assert Alert.objects.filter(rule="stream_value", subject=f"stream:{settings.STREAM_NAME}:boiler").exists()
    steps = [_task_run(state.state_details.flow_run_id, name) for name in STEPS]
    for earlier, later in itertools.pairwise(steps):
        assert earlier["end_time"] <= later["start_time"], (earlier["name"], later["name"])


def test_a_retried_run_takes_up_what_its_failed_attempt_read(in_process_prefect, redis_stream, settings):
    call_command("feed_demo_stream", count=6, seed=7)

    # The first attempt's store fails for good (4 failures > 3 retries); the flow's retry reads the same entries
    # again as its own pending ones, long before another consumer could reclaim them (60 s idle).
    state = stream_incremental.with_options(retry_delay_seconds=0)(drill_transient_failures=4, return_state=True)

    assert state.is_completed(), state
    assert StreamRecord.objects.filter(stream=settings.STREAM_NAME).count() == 6
    assert redis_stream.xpending(settings.STREAM_NAME, settings.STREAM_CONSUMER_GROUP)["pending"] == 0


@pytest.mark.parametrize("pipeline", [stream_incremental, stream_full_analysis])
def test_without_a_redis_url_the_flows_finish_as_skipped(in_process_prefect, settings, pipeline):
    settings.STREAM_REDIS_URL = ""

    state = pipeline(return_state=True)

    assert state.is_completed() and state.message.startswith("Skipped: STREAM_REDIS_URL is not set"), state
    assert not StreamRecord.objects.exists()


STEPS = ("refresh", "analyse", "store_window_metrics", "evaluate")


def _consumer_that_reads_and_hangs(settings, count: int) -> subprocess.Popen:
    program = (
        "import sys, time, redis\n"
        "client = redis.Redis.from_url(sys.argv[1])\n"
        "client.xreadgroup(sys.argv[3], 'doomed', {sys.argv[2]: '>'}, count=int(sys.argv[4]))\n"
        "print('read', flush=True)\n"
        "time.sleep(600)\n"
    )
    arguments = [settings.STREAM_REDIS_URL, settings.STREAM_NAME, settings.STREAM_CONSUMER_GROUP, str(count)]
    process = subprocess.Popen([sys.executable, "-c", program, *arguments], stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None and process.stdout.readline().strip() == "read"
    return process


def _idle_ms(client, stream_name: str, group: str) -> int:
    entries = client.xpending_range(stream_name, group, min="-", max="+", count=100)
    return min((entry["time_since_delivered"] for entry in entries), default=0)


def _wait_until(condition, what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"gave up waiting for {what}"
        time.sleep(0.05)


def _task_run(flow_run_id, name: str) -> dict:
    task_runs = prefect_api._post("/task_runs/filter", {"flow_runs": {"id": {"any_": [str(flow_run_id)]}}})
    return next(t for t in task_runs if t["name"].startswith(f"{name}-"))


def _retry_delays(task_run_id: str) -> list[float]:
    states = prefect_api._get(f"/task_run_states/?task_run_id={task_run_id}")
    retries = sorted((s for s in states if s["name"] == "AwaitingRetry"), key=lambda s: s["timestamp"])
    return [
        (_instant(s["state_details"]["scheduled_time"]) - _instant(s["timestamp"])).total_seconds() for s in retries
    ]


def _instant(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))
