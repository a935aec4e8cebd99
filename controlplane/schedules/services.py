"""Changes to Celery beat's schedules (django-celery-beat's PeriodicTask): each is permission checked and audited,
so switching the sync off, or running a task by hand, leaves a trace in the tamper-evident log.

Edits from the admin's change form join the admin's own transaction: the change and its audit event commit
together (docs/architecture.md, "Every state change through a service").
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.db import transaction
from django_celery_beat.models import PeriodicTask, PeriodicTasks

from controlplane.audit.actor import Actor
from controlplane.audit.chain import record_audit_event
from controlplane.audit.services import refuse
from controlplane.exceptions import PermissionDeniedError

ADD, CHANGE, DELETE = (f"django_celery_beat.{verb}_periodictask" for verb in ("add", "change", "delete"))
TARGET_TYPE = "periodic_task"


def schedule_snapshot(task: PeriodicTask) -> dict[str, Any]:
    """What the audit log records of a schedule: what runs, when, with what, and whether it is on."""
    schedule = task.interval or task.crontab or task.solar or task.clocked
    return {
        "name": task.name,
        "task": task.task,
        "enabled": task.enabled,
        "schedule": str(schedule) if schedule else None,
        "one_off": task.one_off,
        "args": task.args,
        "kwargs": task.kwargs,
        "queue": task.queue,
    }


def snapshot_of_stored(task_pk: int | None) -> dict[str, Any] | None:
    stored = PeriodicTask.objects.filter(pk=task_pk).first() if task_pk else None
    return schedule_snapshot(stored) if stored else None


def save_periodic_task(actor: Actor, task: PeriodicTask, before: dict[str, Any] | None) -> PeriodicTask:
    """Save a created or edited schedule (`before` is its stored state, None when new) and audit the change."""
    action = "schedule.create" if before is None else "schedule.update"
    _require(actor, ADD if before is None else CHANGE, action, task)
    with transaction.atomic():
        task.save()
        after = schedule_snapshot(task)
        if after != before:
            changed = sorted(key for key in after if before is None or after[key] != before.get(key))
            record_audit_event(
                actor,
                action,
                target_type=TARGET_TYPE,
                target_id=task.pk,
                before=None if before is None else {key: before[key] for key in changed},
                after={key: after[key] for key in changed},
            )
    return task


def set_enabled(actor: Actor, tasks: Iterable[PeriodicTask], enabled: bool | None) -> int:
    """Switch schedules on (True), off (False) or each to the opposite (None); one audit event per change."""
    tasks = list(tasks)
    for task in tasks:
        _require(actor, CHANGE, "schedule.update", task)
    changed = 0
    with transaction.atomic():
        for task in tasks:
            wanted = (not task.enabled) if enabled is None else enabled
            if task.enabled == wanted:
                continue
            task.enabled = wanted
            if not wanted:
                task.last_run_at = None
            task.save(update_fields=["enabled", "last_run_at"])
            record_audit_event(
                actor,
                "schedule.update",
                target_type=TARGET_TYPE,
                target_id=task.pk,
                before={"enabled": not wanted},
                after={"enabled": wanted},
            )
            changed += 1
    PeriodicTasks.update_changed()
    return changed


def delete_periodic_task(actor: Actor, task: PeriodicTask) -> None:
    _require(actor, DELETE, "schedule.delete", task)
    with transaction.atomic():
        before = schedule_snapshot(task)
        task_pk = task.pk
        task.delete()
        record_audit_event(actor, "schedule.delete", target_type=TARGET_TYPE, target_id=task_pk, before=before)


def record_run_now(actor: Actor, tasks: Iterable[PeriodicTask]) -> None:
    """Audit that these scheduled tasks were sent to the workers by hand (django-celery-beat's "Run" action)."""
    tasks = list(tasks)
    for task in tasks:
        _require(actor, CHANGE, "schedule.run", task)
    with transaction.atomic():
        for task in tasks:
            record_audit_event(
                actor,
                "schedule.run",
                target_type=TARGET_TYPE,
                target_id=task.pk,
                after={"name": task.name, "task": task.task},
            )


def _require(actor: Actor, permission: str, action: str, task: PeriodicTask) -> None:
    """Refusals are audited in a durable transaction of their own: call this before opening one."""
    if not actor.has_perm(permission):
        refuse(
            actor,
            action,
            PermissionDeniedError("Only admins can change schedules."),
            target_type=TARGET_TYPE,
            target_id=task.pk or task.name,
        )
