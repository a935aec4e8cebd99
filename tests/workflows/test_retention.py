"""Retention: finished mirrored runs older than RUN_RETENTION_DAYS are pruned in batches; nothing else is."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from tests.factories import FlowRunFactory
from workflows.models import FlowRun, FlowRunStateChange, StateType
from workflows.retention import prune_old_runs
from workflows.tasks import prune_mirrored_runs

pytestmark = pytest.mark.django_db


def days_ago(days: int):
    return timezone.now() - timedelta(days=days)


def test_old_finished_runs_are_pruned_with_their_history_and_recent_or_unfinished_ones_kept(settings):
    settings.RUN_RETENTION_DAYS = 30
    old_finished = [FlowRunFactory(expected_start_time=days_ago(40), state_type=t) for t in ("COMPLETED", "FAILED")]
    old_gone = FlowRunFactory(expected_start_time=days_ago(40), state_type=StateType.RUNNING, deleted_in_prefect=True)
    old_still_running = FlowRunFactory(expected_start_time=days_ago(40), state_type=StateType.RUNNING)
    recent = FlowRunFactory(expected_start_time=days_ago(10))
    FlowRunStateChange.objects.create(flow_run=old_finished[0], to_state_type=StateType.COMPLETED, at=days_ago(40))
    child = FlowRunFactory(expected_start_time=days_ago(5), parent=old_finished[0])

    assert prune_mirrored_runs() == 3

    assert set(FlowRun.objects.values_list("pk", flat=True)) == {old_still_running.pk, recent.pk, child.pk}
    assert not FlowRunStateChange.objects.exists()
    child.refresh_from_db()
    assert child.parent is None
    assert old_gone.pk not in FlowRun.objects.values_list("pk", flat=True)


def test_pruning_deletes_in_batches_of_the_given_size(django_assert_max_num_queries):
    FlowRunFactory.create_batch(5, expected_start_time=days_ago(400))
    FlowRunFactory(expected_start_time=days_ago(1))

    with django_assert_max_num_queries(40) as captured:
        assert prune_old_runs(retention_days=365, batch_size=2) == 5

    deletes = [q["sql"] for q in captured.captured_queries if q["sql"].startswith('DELETE FROM "workflows_flowrun"')]
    assert len(deletes) == 3  # 2 + 2 + 1
    assert FlowRun.objects.count() == 1
