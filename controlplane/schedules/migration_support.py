"""Helpers for data migrations that add a beat schedule (django-celery-beat's PeriodicTask). Migrations use the
historical models they are given (`apps`), so these take `apps` too; keep their behaviour stable — applied migrations
call them."""

from __future__ import annotations

from typing import Any

from django.utils import timezone


def add_interval_task(apps: Any, name: str, task: str, seconds: int, description: str) -> None:
    """A PeriodicTask `name` running `task` every `seconds` (a tick not picked up within one interval is dropped:
    the next does the same work). Left alone if one of that name exists (an admin may have edited it)."""
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    every, _ = IntervalSchedule.objects.get_or_create(every=seconds, period="seconds")
    PeriodicTask.objects.get_or_create(
        name=name,
        defaults={"task": task, "interval": every, "expire_seconds": seconds, "description": description},
    )
    _tell_beat(apps)


def remove_tasks(apps: Any, *names: str) -> None:
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(name__in=names).delete()
    _tell_beat(apps)


def _tell_beat(apps: Any) -> None:
    # Beat reloads its schedule only when this timestamp moves (signals do not fire for migration models).
    apps.get_model("django_celery_beat", "PeriodicTasks").objects.update_or_create(
        ident=1, defaults={"last_update": timezone.now()}
    )
