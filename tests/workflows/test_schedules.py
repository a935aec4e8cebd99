"""The beat schedules the migrations create: each names a task Celery knows, with the arguments it takes."""

from __future__ import annotations

import json

import pytest
from django.conf import settings
from django_celery_beat.models import PeriodicTask

from controlplane.celery import app

pytestmark = pytest.mark.django_db


def _tasks_by_name() -> dict[str, PeriodicTask]:
    return {task.name: task for task in PeriodicTask.objects.select_related("interval", "crontab")}


def test_incremental_sync_runs_every_sync_interval():
    task = _tasks_by_name()["Sync Prefect mirror"]
    assert (task.interval.every, task.interval.period) == (settings.SYNC_INTERVAL_SECONDS, "seconds")
    assert json.loads(task.kwargs) == {}


def test_nightly_full_reconcile_and_prune_are_scheduled():
    tasks = _tasks_by_name()
    full = tasks["Full reconcile of the Prefect mirror"]
    assert full.crontab is not None and json.loads(full.kwargs) == {"full": True}
    assert tasks["Prune mirrored runs past retention"].crontab is not None


def test_every_scheduled_task_is_registered_with_celery():
    app.loader.import_default_modules()
    scheduled = {task.task for task in PeriodicTask.objects.exclude(name="celery.backend_cleanup")}
    assert scheduled <= set(app.tasks), scheduled - set(app.tasks)
